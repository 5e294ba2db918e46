"""The method registry and its one dispatcher: `run_method(name, model, examples, params)`.

Every method is a :class:`Method` in :data:`METHOD_REGISTRY`: `rhf infer --method`, `rhf
eval --methods` (eval.runner), the service's ``/v1/methods/<name>`` routes (inference.api)
and docs/extending.md read the names from it, so a new method is one ``register`` call:

    METHOD_REGISTRY.register("mine", Method("mine", run_mine, title="My method"))

where ``run_mine(model, examples, params, **inputs)`` returns one Prediction per example.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from feedback_data.records.schema import Example
from feedback_data.registry import Registry
from feedback_data.tasks.prompts import default_shots
from inference.methods import (
    DEFAULT_N,
    DEFAULT_ROUNDS,
    DEFAULT_TAU,
    DEFAULT_TEMPERATURE,
    DEFAULT_W,
    REFINE_KEEP,
    REFINE_RULES,
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
    refine_rule: str = "paper"  # refine: rewrite while the model names an error, or 'threshold'
    tau: float = DEFAULT_TAU  # refine 'threshold': rewrite only when calibrated P(no error) < tau

    def __post_init__(self) -> None:
        if self.wsc_batch_rows is not None and self.wsc_batch_rows < 1:
            raise ValueError(f"--wsc-batch-rows must be >= 1, got {self.wsc_batch_rows}")
        if self.refine_rule not in REFINE_RULES:
            raise ValueError(f"--refine-rule must be one of {', '.join(REFINE_RULES)}, "
                             f"got {self.refine_rule!r}")
        if not 0.0 <= self.tau <= 1.0:
            raise ValueError(f"--tau must be in [0, 1], got {self.tau}")

    def decoding(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "batch_size": self.batch_size}


MODEL_ROLES = ("model", "base", "refine")


@dataclass(frozen=True)
class Method:
    """One answering method.

    ``run(model, examples, params, *, base, start_chains, samples)`` answers the examples.
    ``model``: which checkpoint answers in `rhf eval` ('model': --model, the multitask-trained
    one; 'base': --base-model; 'refine': --refine-model); ``needs_base``: it also needs
    --base-model (refine's first chains). ``seed_dependent(params)``: whether its output
    changes with the seed (else `rhf eval` computes it once and reuses it for every seed).
    """

    name: str
    run: Callable[..., list[Prediction]]
    title: str = ""
    help: str = ""
    model: str = "model"
    needs_base: bool = False
    seed_dependent: Callable[[MethodParams], bool] = lambda _params: True

    def __post_init__(self) -> None:
        if self.model not in MODEL_ROLES:
            raise ValueError(f"method {self.name}: model must be one of "
                             f"{', '.join(MODEL_ROLES)}, got {self.model!r}")


METHOD_REGISTRY: Registry[Method] = Registry("method")


def check_method(method: str, refine_keep: str = "given") -> Method:
    """The registered method of that name (an unknown name is an error naming the known)."""
    entry = METHOD_REGISTRY.get(method)
    if refine_keep not in REFINE_KEEP:
        raise ValueError(f"--refine-keep must be one of {', '.join(REFINE_KEEP)}, "
                         f"got {refine_keep!r}")
    return entry


def sample_for_vote(model: Any, examples: list[Example], params: MethodParams,
                    critic: Any = None) -> WscSamples:
    """wsc's sampling and label-scoring pass; one pass serves both wsc and wsc_soft.
    ``critic`` (``--critic-model``) scores the labels instead of ``model``."""
    return wsc_sample(model, examples, n=params.n, temperature=params.temperature,
                      seed=params.seed, batch_rows=params.wsc_batch_rows, critic=critic,
                      **params.decoding())


def run_method(method: str, model: Any, examples: list[Example], params: MethodParams, *,
               base: Any = None, start_chains: list[str] | None = None,
               samples: WscSamples | None = None, critic: Any = None) -> list[Prediction]:
    """Predictions of ``method`` on ``examples``, in their order.

    ``model`` answers (cot: the base model; multitask, wsc, wsc_soft: the multitask-trained
    model; refine: the refine-trained model). refine starts from ``start_chains`` when given,
    else from ``base``'s k-shot CoT chains (shots drawn per task with ``params.seed``).
    wsc / wsc_soft vote over ``samples`` when given (see :func:`sample_for_vote`).
    ``critic`` (``--critic-model``, a separate critic) reads the chains where a method asks
    for P(no error) (wsc, wsc_soft, refine's threshold rule); None: ``model`` itself.
    """
    entry = check_method(method, params.refine_keep)
    extra = {"critic": critic} if critic is not None else {}
    return entry.run(model, examples, params, base=base, start_chains=start_chains,
                     samples=samples, **extra)


def _by_task_cot(starter: Any, examples: list[Example], params: MethodParams,
                 then: Callable[[list[Example], list[Prediction]], list[Prediction]] | None = None
                 ) -> list[Prediction]:
    """k-shot CoT per task (shots drawn per task with ``params.seed``), in the examples' order."""
    by_task: dict[str, list[Example]] = {}
    for ex in examples:
        by_task.setdefault(ex.task, []).append(ex)
    by_id: dict[str, Prediction] = {}
    for task, exs in by_task.items():
        preds = run_cot(starter, exs, task, default_shots(task, params.k, seed=params.seed),
                        **params.decoding())
        if then is not None:
            preds = then(exs, preds)
        by_id.update({p.example_id: p for p in preds})
    return [by_id[ex.id] for ex in examples]


def _cot(model: Any, examples: list[Example], params: MethodParams, **_: Any
         ) -> list[Prediction]:
    return _by_task_cot(model, examples, params)


def _multitask(model: Any, examples: list[Example], params: MethodParams, **_: Any
               ) -> list[Prediction]:
    return run_multitask(model, examples, **params.decoding())


def _vote(soft: bool) -> Callable[..., list[Prediction]]:
    def run(model: Any, examples: list[Example], params: MethodParams, *,
            samples: WscSamples | None = None, critic: Any = None, **_: Any
            ) -> list[Prediction]:
        if not 0.0 <= params.w <= 1.0:
            raise ValueError(f"w must be in [0, 1], got {params.w}")
        if samples is None:
            samples = sample_for_vote(model, examples, params, critic)
        return wsc_vote(examples, samples, params.w, soft=soft)

    return run


def _refine(model: Any, examples: list[Example], params: MethodParams, *, base: Any = None,
            start_chains: list[str] | None = None, critic: Any = None, **_: Any
            ) -> list[Prediction]:
    common = params.decoding()
    if params.refine_rule != "paper":
        common |= {"rule": params.refine_rule, "critic": critic, "tau": params.tau}
    if start_chains is None and base is None:
        raise ValueError("refine needs its base model (the model writing the first chains) "
                         "or the chains to start from")
    if start_chains is not None:
        return run_refine(model, examples, start_chains, rounds=params.rounds,
                          keep=params.refine_keep, **common)
    return _by_task_cot(base, examples, params, then=lambda exs, preds: run_refine(
        model, exs, [p.text for p in preds], rounds=params.rounds, keep=params.refine_keep,
        **common))


def _shots_vary(params: MethodParams) -> bool:
    return params.k > 0


for _method in (
    Method("cot", _cot, title="CoT k-shot ICL (base model)", model="base",
           help="k-shot chain-of-thought with the base model, greedy",
           seed_dependent=_shots_vary),
    Method("multitask", _multitask, title="Multitask fine-tuned",
           help="the answer instruction the multitask recipe trains on, greedy",
           seed_dependent=lambda _p: False),
    Method("wsc", _vote(False), title="Weighted self-consistency",
           help="n sampled answers, each weighted by the critic's label, a weighted vote"),
    Method("wsc_soft", _vote(True), title="Weighted self-consistency, soft weights "
           "(extension)", help="wsc's samples, weighted w + (1 - w) P(no error)"),
    Method("refine", _refine, title="Iterative refinement", model="refine", needs_base=True,
           help="from the base model's CoT chain, 'error types ; correction' until no error "
                "(--refine-rule threshold: only chains whose calibrated P(no error) from the "
                "critic is below --tau are rewritten)",
           seed_dependent=_shots_vary),
):
    METHOD_REGISTRY.register(_method.name, _method)
