"""One method dispatcher: `run_method(name, model, examples, params)` for every method.

Used by `rhf infer`, `rhf eval` (eval.runner) and the service (inference.api), so a method
is wired to its functions in this one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from feedback_data.prompts import default_shots
from feedback_data.schema import Example
from inference.methods import (
    DEFAULT_N,
    DEFAULT_ROUNDS,
    DEFAULT_TEMPERATURE,
    DEFAULT_W,
    METHODS,
    REFINE_KEEP,
    Prediction,
    WscSamples,
    run_cot,
    run_multitask,
    run_refine,
    wsc_sample,
    wsc_vote,
)


@dataclass(frozen=True)
class MethodParams:
    """The knobs of every method; each method reads the ones it uses."""

    k: int = 4  # cot / refine start: shots in the prompt
    n: int = DEFAULT_N  # wsc: samples per question
    w: float = DEFAULT_W  # wsc: weight of a sample critiqued as erroneous
    temperature: float = DEFAULT_TEMPERATURE  # wsc: sampling temperature
    rounds: int = DEFAULT_ROUNDS  # refine: maximum rounds
    refine_keep: str = "given"  # refine, on 'no error': the chain given (paper) or written
    seed: int = 0  # sampling and shot choice
    batch_size: int | None = 64  # sequences per generate call
    max_new_tokens: int = 64  # cap on generated tokens
    wsc_batch_rows: int | None = None  # wsc: decoder rows per sampling/scoring batch

    def __post_init__(self) -> None:
        if self.wsc_batch_rows is not None and self.wsc_batch_rows < 1:
            raise ValueError(f"--wsc-batch-rows must be >= 1, got {self.wsc_batch_rows}")

    def decoding(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "batch_size": self.batch_size}


def check_method(method: str, refine_keep: str = "given") -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    if refine_keep not in REFINE_KEEP:
        raise ValueError(f"--refine-keep must be one of {', '.join(REFINE_KEEP)}, "
                         f"got {refine_keep!r}")


def sample_for_vote(model: Any, examples: list[Example], params: MethodParams) -> WscSamples:
    """wsc's sampling and label-scoring pass; one pass serves both wsc and wsc_soft."""
    return wsc_sample(model, examples, n=params.n, temperature=params.temperature,
                      seed=params.seed, batch_rows=params.wsc_batch_rows, **params.decoding())


def run_method(method: str, model: Any, examples: list[Example], params: MethodParams, *,
               base: Any = None, start_chains: list[str] | None = None,
               samples: WscSamples | None = None) -> list[Prediction]:
    """Predictions of ``method`` on ``examples``, in their order.

    ``model`` answers (cot: the base model; multitask, wsc, wsc_soft: the multitask-trained
    model; refine: the refine-trained model). refine starts from ``start_chains`` when given,
    else from ``base``'s k-shot CoT chains (shots drawn per task with ``params.seed``).
    wsc / wsc_soft vote over ``samples`` when given (see :func:`sample_for_vote`).
    """
    check_method(method, params.refine_keep)
    common = params.decoding()
    if method == "multitask":
        return run_multitask(model, examples, **common)
    if method in ("wsc", "wsc_soft"):
        if not 0.0 <= params.w <= 1.0:
            raise ValueError(f"w must be in [0, 1], got {params.w}")
        if samples is None:
            samples = sample_for_vote(model, examples, params)
        return wsc_vote(examples, samples, params.w, soft=method == "wsc_soft")
    if method == "refine" and start_chains is None and base is None:
        raise ValueError("refine needs its base model (the model writing the first chains) "
                         "or the chains to start from")
    if method == "refine" and start_chains is not None:
        return run_refine(model, examples, start_chains, rounds=params.rounds,
                          keep=params.refine_keep, **common)
    by_task: dict[str, list[Example]] = {}
    for ex in examples:
        by_task.setdefault(ex.task, []).append(ex)
    starter = model if method == "cot" else base
    by_id: dict[str, Prediction] = {}
    for task, exs in by_task.items():
        preds = run_cot(starter, exs, task, default_shots(task, params.k, seed=params.seed),
                        **common)
        if method == "refine":
            preds = run_refine(model, exs, [p.text for p in preds], rounds=params.rounds,
                               keep=params.refine_keep, **common)
        by_id.update({p.example_id: p for p in preds})
    return [by_id[ex.id] for ex in examples]
