"""`rhf infer --method M --model CKPT --task T`: answer questions with one method, batched.

A thin shell over :func:`inference.infer.infer`: questions come from a task's dev set
(``--split dev``, the default), its train questions (``--split train``) or a JSONL of
questions (``--examples``: Example records or plain ``{question[, id, answer, options]}``
objects). Predictions are written as JSONL; accuracy against the gold answers is printed,
over the questions that have one (questions without a gold answer are answered, not scored,
and the output says so). The method knobs are the fields of
:class:`inference.dispatch.MethodParams` (:mod:`inference.method_options`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from inference.method_options import method_option, with_method_options
from inference.run_options import Device, Dtype

app = typer.Typer(help="Answer questions with one method of the method registry (cot, "
                       "multitask, wsc, wsc_soft, refine, ...).")


@app.callback(invoke_without_command=True)
@with_method_options()
def infer_command(
    ctx: typer.Context,
    method: Annotated[str, method_option(
        "A method of the method registry (inference.dispatch.METHOD_REGISTRY):")]
    = "multitask",
    model: Annotated[str | None, typer.Option(
        help="Checkpoint (hub id, folder or RUN_DIR) that answers; for cot the base model.")]
    = None,
    base_model: Annotated[str | None, typer.Option(
        help="refine: the base model writing the first chains (required for refine; pass "
             "--model's value to use the same model).")] = None,
    critic_model: Annotated[str | None, typer.Option(
        help="wsc, wsc_soft (and refine's critic rule where it has one): a separate critic "
             "checkpoint (rhf train --objective critic) that reads the chains; its "
             "critic.json (label scoring, temperature) is applied. Default: --model.")]
    = None,
    task: Annotated[str, typer.Option(
        help="A task name (strategyqa, sports_understanding, or one registered) or a task "
             "YAML file (docs/tasks.md).")] = "strategyqa",
    split: Annotated[str, typer.Option(help="dev, train or all (ignored with --examples).")]
    = "dev",
    examples_file: Annotated[Path | None, typer.Option(
        "--examples", help="JSONL of questions to answer instead of a split: Example records "
                           "or {question[, id, answer, explanation, options]}; without an "
                           "answer a question is answered, not scored.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    out: Annotated[Path, typer.Option(help="Predictions JSONL to write.")]
    = Path("runs/predictions.jsonl"),
    knobs: dict[str, Any] | None = None,
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Answer questions with one method and write one prediction per line (and OUT's
    .run.json: models, dtype, device, processes, parameters).

    Data-parallel: `accelerate launch --num_processes N -m rhf_cli infer ...` gives the same
    predictions as one process; the main process writes.
    """
    if ctx.invoked_subcommand is not None:
        return
    from eval.metrics import accuracy
    from inference.dispatch import method_params_from
    from inference.infer import InferFailed, InferModels, infer
    from inference.run_options import echo, fail_once
    from inference.sharding import current

    dp = current()
    try:
        params = method_params_from(knobs or {})
        summary = infer(method, InferModels(model, base_model, critic_model), params,
                        task=task, split=split, examples_file=examples_file, limit=limit,
                        out=out, device=device, dtype=dtype, score=accuracy)
    except (InferFailed, ValueError) as exc:
        fail_once(dp, str(exc))
    if summary is not None:
        echo(dp)(json.dumps(summary))
