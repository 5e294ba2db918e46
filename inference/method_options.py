"""The method knobs as command-line options, defined once for `rhf infer` and `rhf eval`.

Defaults come from :class:`inference.dispatch.MethodParams`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from inference.dispatch import MethodParams

DEFAULTS = MethodParams()

K = Annotated[int, typer.Option(help="cot / refine start: shots in the CoT prompt.")]
N = Annotated[int, typer.Option(help="wsc: samples per question.")]
W = Annotated[float, typer.Option(help="wsc: weight of a sample critiqued as erroneous.")]
Temperature = Annotated[float, typer.Option(help="wsc: sampling temperature.")]
Rounds = Annotated[int, typer.Option(help="refine: maximum rounds.")]
RefineKeep = Annotated[str, typer.Option(
    help="refine, when the model predicts 'no error': keep the chain it was 'given' "
         "(the paper) or the correction it wrote ('written').")]
RefineRule = Annotated[str, typer.Option(
    help="refine: 'paper' rewrites while the refine model names an error; 'threshold' "
         "rewrites only chains whose calibrated P(no error) from the critic (--model) is "
         "below --tau.")]
Tau = Annotated[float | None, typer.Option(
    help="refine --refine-rule threshold: rewrite only when P(no error) < tau (rhf eval "
         "default: chosen on the critic's validation records).", show_default=False)]
BatchSize = Annotated[int, typer.Option(help="Sequences per generate call.")]
MaxNewTokens = Annotated[int, typer.Option(help="Cap on generated tokens.")]
WscBatchRows = Annotated[int | None, typer.Option(
    help="wsc: decoder rows per sampling and label-scoring batch (questions x n, answers x "
         "16); default --batch-size. On a GPU raise it (e.g. to --batch-size x n): a decoding "
         "step costs about the same up to thousands of rows.", show_default=False)]
