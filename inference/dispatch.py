"""The method registry and its one dispatcher: `run_method(name, model, examples, params)`.

Every method is a :class:`Method` in :data:`METHOD_REGISTRY`: `rhf infer --method`, `rhf
eval --methods` (eval.runner), the service's ``/v1/methods/<name>`` routes (inference.api)
and docs/extending.md read the names from it, so a new method is one ``register`` call:

    METHOD_REGISTRY.register("mine", Method("mine", run_mine, title="My method"))

where ``run_mine(model, examples, params, **inputs)`` returns one Prediction per example.
The entry is the one description of the method: its title (reports, model cards), its role
(which model answers, and so which model card lists it), the :class:`MethodParams` knobs it
reads, and its service route.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
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


def knob(default: Any, help: str, *, request: bool = True) -> Any:
    """A :class:`MethodParams` field: its default and its help, the one text `rhf infer`,
    `rhf eval` and the service's request schema show. ``request``: whether a service request
    may set it (False: the server's own resources, e.g. batch sizes)."""
    return field(default=default, metadata={"help": help, "request": request})


@dataclass(frozen=True)
class MethodParams:
    """The knobs of every method; each method reads the ones it uses (its entry's ``params``).

    A new knob is one field here (with its help) and the method that reads it: the options
    of `rhf infer` and `rhf eval` (inference.method_options), :class:`eval.config.EvalConfig`
    and the service's request fields (inference.api) are made from these fields.
    """

    k: int = knob(4, "cot / refine start: shots in the CoT prompt.")
    n: int = knob(DEFAULT_N, "wsc: samples per question.")
    w: float = knob(DEFAULT_W, "wsc: weight of a sample critiqued as erroneous.")
    temperature: float = knob(DEFAULT_TEMPERATURE, "wsc: sampling temperature.")
    rounds: int = knob(DEFAULT_ROUNDS, "refine: maximum rounds.")
    refine_keep: str = knob(
        "given", "refine, when the model predicts 'no error': keep the chain it was 'given' "
                 "(the paper) or the correction it wrote ('written').")
    seed: int = knob(0, "Seed for sampling and shot choice.")
    batch_size: int | None = knob(64, "Sequences per generate call.", request=False)
    max_new_tokens: int = knob(64, "Cap on generated tokens.")
    wsc_batch_rows: int | None = knob(
        None, "wsc: decoder rows per sampling and label-scoring batch (questions x n, answers "
              "x 16); default --batch-size. On a GPU raise it (e.g. to --batch-size x n): a "
              "decoding step costs about the same up to thousands of rows.", request=False)
    refine_rule: str = knob(
        "paper", "refine: 'paper' rewrites while the refine model names an error; 'threshold' "
                 "rewrites only chains whose calibrated P(no error) from the critic is "
                 "below --tau (the critic: --critic-model; in rhf eval by default --model).")
    tau: float | None = knob(
        None, f"refine --refine-rule threshold: rewrite only when P(no error) < tau (default "
              f"{DEFAULT_TAU}; rhf eval: chosen on the critic's validation records).")

    def __post_init__(self) -> None:
        if self.wsc_batch_rows is not None and self.wsc_batch_rows < 1:
            raise ValueError(f"--wsc-batch-rows must be >= 1, got {self.wsc_batch_rows}")
        if self.refine_rule not in REFINE_RULES:
            raise ValueError(f"--refine-rule must be one of {', '.join(REFINE_RULES)}, "
                             f"got {self.refine_rule!r}")
        if self.tau is not None and not 0.0 <= self.tau <= 1.0:
            raise ValueError(f"--tau must be in [0, 1], got {self.tau}")

    def decoding(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "batch_size": self.batch_size}

    @property
    def threshold(self) -> float:
        """refine's τ: the one given, else the default."""
        return DEFAULT_TAU if self.tau is None else self.tau


KNOBS: tuple[str, ...] = tuple(f.name for f in fields(MethodParams))
# What every method reads besides its own knobs.
DECODING_KNOBS: tuple[str, ...] = ("seed", "batch_size", "max_new_tokens")


def knob_help(name: str) -> str:
    """The help text of the :class:`MethodParams` field ``name``."""
    return next(f.metadata["help"] for f in fields(MethodParams) if f.name == name)


def method_params_from(values: Mapping[str, Any], **fixed: Any) -> MethodParams:
    """The :class:`MethodParams` of ``values``' knob keys (other keys, e.g. a request's
    question, are not knobs and are left out), then ``fixed`` on top."""
    return MethodParams(**{k: v for k, v in values.items() if k in KNOBS} | fixed)


MODEL_ROLES = ("model", "base", "refine")


@dataclass(frozen=True)
class Method:
    """One answering method: the one place that describes it.

    ``run(model, examples, params, *, base, start_chains, samples)`` answers the examples.
    ``title``: its name in reports, model cards and the service's docs; ``help``: a line on
    what it does. ``model``, its role: which checkpoint answers ('model': --model, the
    multitask-trained one; 'base': --base-model; 'refine': --refine-model), and so whose
    model card lists its numbers; ``needs_base``: it also needs --base-model (refine's first
    chains). ``params``: the :class:`MethodParams` fields it reads besides
    :data:`DECODING_KNOBS`. ``seed_dependent(params)``: whether its output changes with the
    seed (else `rhf eval` computes it once and reuses it for every seed). Its service route
    is :attr:`route`.
    """

    name: str
    run: Callable[..., list[Prediction]]
    title: str = ""
    help: str = ""
    model: str = "model"
    needs_base: bool = False
    params: tuple[str, ...] = ()
    seed_dependent: Callable[[MethodParams], bool] = lambda _params: True

    def __post_init__(self) -> None:
        if self.model not in MODEL_ROLES:
            raise ValueError(f"method {self.name}: model must be one of "
                             f"{', '.join(MODEL_ROLES)}, got {self.model!r}")
        unknown = [p for p in self.params if p not in KNOBS]
        if unknown:
            raise ValueError(f"method {self.name}: {unknown[0]!r} is no MethodParams field "
                             f"(known: {', '.join(KNOBS)})")

    @property
    def route(self) -> str:
        """Its service route (inference.api)."""
        return f"/v1/methods/{self.name}"

    @property
    def display_title(self) -> str:
        """Its title, else its name."""
        return self.title or self.name

    def describe(self) -> str:
        """Its help and the knobs it reads, for help texts and the service's docs."""
        knobs = ", ".join(self.params + DECODING_KNOBS)
        return f"{self.help}{'; ' if self.help else ''}reads {knobs}"


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
        common |= {"rule": params.refine_rule, "critic": critic, "tau": params.threshold}
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
           help="k-shot chain-of-thought with the base model, greedy", params=("k",),
           seed_dependent=_shots_vary),
    Method("multitask", _multitask, title="Multitask fine-tuned",
           help="the answer instruction the multitask recipe trains on, greedy",
           seed_dependent=lambda _p: False),
    Method("wsc", _vote(False), title="Weighted self-consistency",
           help="n sampled answers, each weighted by the critic's label, a weighted vote",
           params=("n", "w", "temperature", "wsc_batch_rows")),
    Method("wsc_soft", _vote(True), title="Weighted self-consistency, soft weights "
           "(extension)", help="wsc's samples, weighted w + (1 - w) P(no error)",
           params=("n", "w", "temperature", "wsc_batch_rows")),
    Method("refine", _refine, title="Iterative refinement", model="refine", needs_base=True,
           help="from the base model's CoT chain, 'error types ; correction' until no error "
                "(--refine-rule threshold: only chains whose calibrated P(no error) from the "
                "critic is below --tau are rewritten)",
           params=("rounds", "refine_keep", "refine_rule", "tau", "k"),
           seed_dependent=_shots_vary),
):
    METHOD_REGISTRY.register(_method.name, _method)
