"""The critic's P(no error) per chain, for ``rhf annotate push --order uncertainty --model M``.

The annotation queue is ordered in ``annotation.queue``, which must not import inference or
eval; the model is loaded and run here, in the top layer, and handed to ``rhf annotate``
through the click context object: rhf_cli installs :func:`root_callback` as the root
command's callback (by module name, as it installs every command).

P(no error) is the quantity the calibration reports and wsc_soft weighs with, computed by the
same functions: the multitask error-types instruction for (question, chain), the
log-probabilities of the sixteen :data:`feedback_data.text.critic_labels.ERROR_LABELS`
read as the critic's ``critic.json`` says, softmax, the share of 'no error'
(:func:`feedback_data.text.critic_labels.no_error_probabilities`); when the critic's
checkpoint holds a combiner (``rhf eval fit-critic``), that P combined with verification
against the verifier's own chains and its answer agreement
(:class:`inference.combined_critic.CombinedCritic`). The question is the chain's own
(``Chain.question``), the one the annotator sees on the task page.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from feedback_data.records.schema import Chain
from feedback_data.text.instructions import error_types_prompt

if TYPE_CHECKING:  # eval and inference load torch: imported where used, so `rhf` starts fast
    from inference.methods import Scorer

DEFAULT_BATCH_SIZE = 32


def critic_prompts(chains: Sequence[Chain], order: str | None = None) -> list[str]:
    """The error-types instruction the multitask critic was trained on, one per chain, the
    chain written in the critic's ``order`` (its data.chain_order) when given."""
    return [error_types_prompt(c.question, c.text, order) for c in chains]


def score_chains(scorer: Scorer, chains: Sequence[Chain], *,
                 batch_size: int = DEFAULT_BATCH_SIZE,
                 progress: bool = True) -> dict[str, float]:
    """Chain id -> the critic's P(no error), ``batch_size`` chains per step of the bar.

    A chain id given twice with different texts is an error (which score would it get?);
    the same chain twice is scored once.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    unique: dict[str, Chain] = {}
    for chain in chains:
        seen = unique.setdefault(chain.id, chain)
        if (seen.question, seen.text) != (chain.question, chain.text):
            raise ValueError(f"chain id {chain.id!r} appears twice with different texts")
    todo = list(unique.values())
    prompts = critic_prompts(todo, getattr(scorer, "chain_order", None))
    from tqdm.auto import tqdm

    from feedback_data.records.schema import Example
    from feedback_data.text.critic_labels import no_error_probabilities
    from inference.combined_critic import combine_or_keep

    probs: list[float] = []
    starts = range(0, len(prompts), batch_size)
    for start in tqdm(starts, desc="critic P(no error)", unit="batch",
                      disable=not progress or len(starts) < 2, leave=False):
        batch = todo[start:start + batch_size]
        learned = no_error_probabilities(scorer, prompts[start:start + batch_size],
                                         batch_size=batch_size)
        probs += combine_or_keep(scorer, [
            (Example(id=c.example_id, task=c.task, question=c.question, source="file"),
             c.text, c.answer) for c in batch], learned)
    return {c.id: p for c, p in zip(todo, probs, strict=True)}


def critic_scores(model: str | Path, chains: Sequence[Chain], *,
                  batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True,
                  device: str | None = "auto", dtype: str | None = "auto") -> dict[str, float]:
    """Load ``model`` (hub id, folder or RUN_DIR; seq2seq or causal) on ``device`` in
    ``dtype`` (see :mod:`inference.precision`) and score ``chains``."""
    from inference.backends import Backend
    from inference.combined_critic import with_combiner

    def load(spec: str | Path):
        return Backend.load(spec, batch_size=batch_size, device=device, dtype=dtype)

    critic = with_combiner(load(model), load, batch_size)  # its combiner, when it holds one
    return score_chains(critic, chains, batch_size=batch_size, progress=progress)


def register_critic(obj: dict) -> dict:
    """Put :func:`critic_scores` where ``rhf annotate`` looks for a critic (the click
    context object), and return ``obj``."""
    from annotation.cli_support import CRITIC_KEY

    obj[CRITIC_KEY] = critic_scores
    return obj


def root_callback(ctx: typer.Context) -> None:
    """rhf: learn better multi-hop reasoning from rich human feedback (Joshi et al., 2023)."""
    ctx.obj = register_critic(ctx.obj if isinstance(ctx.obj, dict) else {})
