"""The critic every method reads: the learned critic's P(no error), combined with what the
answering model knows, when the critic's checkpoint holds a combiner.

Three signals per chain:

- ``learned``: the fine-tuned critic's P(no error), read as its ``critic.json`` says
  (:func:`feedback_data.text.critic_labels.no_error_probabilities`), as its logit.
- ``verification`` (after Chain-of-Verification, Dhuliawala et al., 2023): the verifier (the
  answering model) writes its own chains for the question, 0-shot CoT, greedy plus
  ``samples`` sampled ones, never seeing the chain under review; the task's claim reader
  (:mod:`feedback_data.text.claims`, named in the task spec) scores how far the chain's
  claims agree with them.
- ``agreement``: the share of those verifier chains whose answer is the chain's answer.
- ``subquestions`` (optional, Chain-of-Verification's planned questions): a planner (a model
  trained with the multitask ``subquestions`` term, p(subquestions | q), on the annotators'
  decompositions) writes the verification questions; the verifier answers each on its own,
  0-shot; the claim reader scores the chain against those answers read as one chain
  (:func:`feedback_data.text.claims.answers_chain`). Computed only when the combiner's
  features name it and its verifier settings name a planner.

A logistic regression over them, one per task, is fitted on the critic's validation records by
``rhf eval fit-critic`` (eval/critic_combiner.py) and stored in the checkpoint's
``critic.json`` under ``combiner``. This module is its apply side: :class:`CombinedCritic`
wraps the learned critic and the verifier, and wsc_soft's weights and refine's threshold rule
read P(no error) from it (:mod:`inference.methods`); Table 2 and selective prediction score
with the same functions. A task the combiner has no fit for is read by the learned critic
alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from feedback_data.records.schema import Example, FeedbackItem

COMBINER_KEY = "combiner"
FEATURES: tuple[str, ...] = ("learned", "verification", "agreement", "subquestions")
# A feature row's value for a signal that was not computed (no planner).
NOT_COMPUTED = math.nan
# The planner named as "the critic's own checkpoint".
SELF = "self"
# The clip of the learned P before its logit.
P_CLIP = 1e-6


@dataclass(frozen=True)
class VerifierSettings:
    """How the verifier writes its chains (stored with the combiner, reused to apply it)."""

    model: str
    samples: int = 0  # sampled chains beside the greedy one (0: the greedy chain alone)
    temperature: float = 0.7
    seed: int = 0
    max_new_tokens: int = 96
    # The model that writes the verification questions (trained with the multitask
    # subquestions term): a model spec, "self" (the critic's own checkpoint) or None (no
    # ``subquestions`` feature).
    planner: str | None = None
    max_subquestions: int = 3  # verification questions per question, at most


# --- pure pieces -----------------------------------------------------------------------------

def sigmoid(z: float) -> float:
    """1 / (1 + e^-z), without overflow for a large |z|."""
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def predict_logistic(model: dict[str, Any], row: Sequence[float]) -> float:
    """P(label) of one row under a logistic model {mean, std, weights, bias} (the features
    standardised by ``mean`` and ``std`` first).

    >>> predict_logistic({"mean": [1.0], "std": [2.0], "weights": [4.0], "bias": 0.0}, [1.0])
    0.5
    """
    z = model["bias"] + sum(w * (v - m) / s for w, v, m, s in
                            zip(model["weights"], row, model["mean"], model["std"], strict=True))
    return sigmoid(z)


def feature_row(learned: float, verification: float, agreement: float,
                subquestions: float = NOT_COMPUTED) -> list[float]:
    """The combiner's features (:data:`FEATURES`): the learned P as its logit (clipped),
    then the scores (``subquestions`` NaN when no planner wrote questions).

    >>> feature_row(0.5, 0.25, 1.0, 0.5)
    [0.0, 0.25, 1.0, 0.5]
    """
    p = min(max(learned, P_CLIP), 1 - P_CLIP)
    return [math.log(p / (1 - p)), verification, agreement, subquestions]


def check_features(features: Sequence[str]) -> None:
    """Combiner features are some of :data:`FEATURES`, at least one; else a ValueError."""
    unknown = [f for f in features if f not in FEATURES]
    if unknown or not features:
        raise ValueError(f"combiner features must be some of {', '.join(FEATURES)}, got "
                         f"{list(features)}")


def select(row: Sequence[float], features: Sequence[str]) -> list[float]:
    """The named features of a :func:`feature_row` (in :data:`FEATURES` order); a named
    feature that was not computed is a ValueError.

    >>> select([0.0, 0.25, 1.0, math.nan], ["verification", "agreement"])
    [0.25, 1.0]
    """
    check_features(features)
    out = [row[FEATURES.index(f)] for f in features]
    missing = [f for f, v in zip(features, out, strict=True) if math.isnan(v)]
    if missing:
        raise ValueError(f"feature(s) {missing} not computed: the 'subquestions' feature "
                         "needs a planner (VerifierSettings.planner, `--planner`)")
    return out


def agreement_score(chain_answer: str | None, sampled: Sequence[str | None],
                    same=lambda a, b: a == b) -> float:
    """The share of sampled answers equal to the chain's answer (``same`` decides equality).

    An unreadable sampled answer disagrees; a chain without a readable answer scores 0.

    >>> agreement_score("yes", ["yes", "no", None, "yes"])
    0.5
    >>> agreement_score(None, ["yes"])
    0.0
    """
    if not sampled:
        raise ValueError("agreement of no sampled answers")
    if chain_answer is None:
        return 0.0
    return sum(a is not None and same(chain_answer, a) for a in sampled) / len(sampled)


def combined_probabilities(combiner: dict[str, Any], task: str,
                           rows: Sequence[Sequence[float]]) -> list[float] | None:
    """P(no error) of each feature row under the task's combiner; None when the combiner
    has none for ``task``."""
    model = combiner.get("tasks", {}).get(task)
    if model is None:
        return None
    return [predict_logistic(model, select(r, combiner["features"])) for r in rows]


# A chain to judge: the example it answers, its text and its answer (None: unreadable).
Judged = tuple[Example, str, "str | None"]


def as_judged(items: Sequence[FeedbackItem]) -> list[Judged]:
    return [(i.example, i.chain.text, i.chain.answer) for i in items]


def signals(judged: Sequence[Judged], chains: dict[str, list[str]],
            answers: dict[str, list[str]] | None = None
            ) -> list[tuple[float, float, float]]:
    """(verification, agreement, subquestions) of each chain: against the verifier chains
    of its question, and against the verifier's answers to its planned subquestions
    (``answers``; NaN without them, :data:`claims.UNDECIDED` when the planner wrote no
    question or the verifier no step)."""
    from feedback_data.tasks.registry import get_task
    from feedback_data.text.answers import answers_match, parse_answer_chain
    from feedback_data.text.claims import UNDECIDED, answers_chain, verification_score

    out = []
    for ex, text, answer in judged:
        theirs = chains[ex.question]
        reader = get_task(ex.task).claims
        parsed = [parse_answer_chain(t, ex)[0] for t in theirs]
        planned = NOT_COMPUTED
        if answers is not None:
            joined = answers_chain(answers[ex.question])
            planned = verification_score(reader, ex.question, text, [joined]) \
                if joined else UNDECIDED
        out.append((verification_score(reader, ex.question, text, theirs),
                    agreement_score(answer, parsed,
                                    same=lambda a, b, e=ex: answers_match(e, a, b)),
                    planned))
    return out


# --- model calls -----------------------------------------------------------------------------

def verifier_chains(verifier: Any, examples: Sequence[Example], settings: VerifierSettings,
                    batch_size: int | None = None) -> dict[str, list[str]]:
    """The verifier's own chains for each question: greedy, then ``samples`` sampled
    (seeded), from the 0-shot CoT prompt. Keyed by question."""
    from feedback_data.tasks.prompts import cot_prompt

    questions = list(dict.fromkeys((ex.task, ex.question) for ex in examples))
    if not questions:
        return {}
    prompts = [cot_prompt(t, q, []) for t, q in questions]
    greedy = verifier.generate(prompts, max_new_tokens=settings.max_new_tokens,
                               batch_size=batch_size, desc="verifier chains (greedy)")
    sampled: list[list[str]] = [[] for _ in prompts]
    if settings.samples:
        sampled = verifier.generate(
            prompts, do_sample=True, temperature=settings.temperature,
            num_return_sequences=settings.samples, max_new_tokens=settings.max_new_tokens,
            seed=settings.seed, batch_size=batch_size, desc="verifier chains (sampled)")
    return {q: [g[0], *s] for (_, q), g, s in zip(questions, greedy, sampled, strict=True)}


def subquestion_answers(planner: Any, verifier: Any, examples: Sequence[Example],
                        settings: VerifierSettings, batch_size: int | None = None
                        ) -> dict[str, list[str]]:
    """Chain-of-Verification's planned questions, answered: the planner writes each
    question's subquestions (greedy, at most ``settings.max_subquestions``), the verifier
    answers each one on its own (greedy, 0-shot, never seeing the question's chains). Keyed
    by question; the answers in the subquestions' order ([] when none was written)."""
    from feedback_data.text.instructions import (
        parse_subquestions,
        subquestions_prompt,
        verification_question_prompt,
    )

    questions = list(dict.fromkeys(ex.question for ex in examples))
    if not questions:
        return {}
    planned = planner.generate([subquestions_prompt(q) for q in questions],
                               max_new_tokens=settings.max_new_tokens, batch_size=batch_size,
                               desc="verification questions")
    asked = [parse_subquestions(p[0], settings.max_subquestions) for p in planned]
    flat = [s for subs in asked for s in subs]
    said = verifier.generate([verification_question_prompt(s) for s in flat],
                             max_new_tokens=settings.max_new_tokens, batch_size=batch_size,
                             desc="verification answers") if flat else []
    out: dict[str, list[str]] = {}
    at = 0
    for q, subs in zip(questions, asked, strict=True):
        out[q] = [a[0] for a in said[at:at + len(subs)]]
        at += len(subs)
    return out


def learned_probabilities(critic: Any, judged: Sequence[Judged],
                          batch_size: int | None = None) -> list[float]:
    """The learned critic's P(no error) of each chain (error-types instruction, the chain in
    the order the critic was trained on), read as its ``critic.json`` says."""
    from feedback_data.text.critic_labels import no_error_probabilities
    from feedback_data.text.instructions import error_types_prompt

    order = getattr(critic, "chain_order", None)
    return no_error_probabilities(
        critic, [error_types_prompt(ex.question, text, order) for ex, text, _ in judged],
        batch_size=batch_size)


def feature_rows(critic: Any, verifier: Any, judged: Sequence[Judged],
                 settings: VerifierSettings, batch_size: int | None = None,
                 planner: Any = None) -> list[list[float]]:
    """The combiner's feature row (:func:`feature_row`) of each chain; the
    ``subquestions`` feature only with a ``planner``."""
    learned = learned_probabilities(critic, judged, batch_size)
    examples = [j[0] for j in judged]
    answers = None if planner is None else subquestion_answers(planner, verifier, examples,
                                                               settings, batch_size)
    sig = signals(judged, verifier_chains(verifier, examples, settings, batch_size), answers)
    return [feature_row(p, *s) for p, s in zip(learned, sig, strict=True)]


# --- the stored combiner and the critic that applies it --------------------------------------

def load_combiner(folder: str | Path) -> dict[str, Any] | None:
    """The combiner stored in a checkpoint's ``critic.json``, or None; one that cannot be
    read is a ValueError naming the file."""
    from feedback_data.text.critic_labels import READING_FILE

    path = Path(folder) / READING_FILE
    if not path.is_file():
        return None
    try:
        combiner = json.loads(path.read_text(encoding="utf-8")).get(COMBINER_KEY)
    except (UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
    if combiner is None:
        return None
    known = {f.name for f in fields(VerifierSettings)}
    if not isinstance(combiner, dict) or not {"features", "verifier", "tasks"} <= set(combiner) \
            or not isinstance(combiner["verifier"], dict) \
            or not set(combiner["verifier"]) <= known or "model" not in combiner["verifier"] \
            or any(f not in FEATURES for f in combiner["features"]):
        raise ValueError(f"{path}: '{COMBINER_KEY}' is not a combiner written by "
                         "`rhf eval fit-critic` (features, verifier, tasks); fit it again")
    return combiner


def checkpoint_folder(model: Any) -> str | None:
    """The folder a loaded model came from (its ``info['path']``), if any."""
    for holder in (model, getattr(model, "inner", None), getattr(model, "backend", None)):
        info = getattr(holder, "info", None)
        if isinstance(info, dict) and info.get("path"):
            return str(info["path"])
    return None


class CombinedCritic:
    """The learned critic and the verifier, read through the critic's combiner.

    It stands wherever a critic does: label scoring (``score_choices``), generation, its
    ``critic.json`` reading and chain order all come from the learned critic (``inner``), so
    wsc's paper weights are unchanged. What it adds is :meth:`combine`: the combined
    P(no error) of chains, given their learned P. Verifier chains are written once per
    question and kept, so n samples of a question, and refine's rounds, share them.
    """

    def __init__(self, learned: Any, verifier: Any, combiner: dict[str, Any],
                 batch_size: int | None = None, planner: Any = None) -> None:
        self.inner = learned
        self.verifier = verifier
        self.combiner = combiner
        self.settings = VerifierSettings(**combiner["verifier"])
        self.batch_size = batch_size
        self.uses_subquestions = "subquestions" in combiner["features"]
        if self.uses_subquestions and planner is None:
            raise ValueError("the combiner reads the 'subquestions' feature but no planner "
                             "was given (its verifier settings name none)")
        self.planner = planner
        self._chains: dict[str, list[str]] = {}
        self._answers: dict[str, list[str]] = {}

    def __getattr__(self, name: str) -> Any:  # score_choices, generate, info, chain_order...
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def tasks(self) -> list[str]:
        """The tasks the combiner has a fit for."""
        return sorted(self.combiner.get("tasks", {}))

    def describe(self) -> dict[str, Any]:
        """What report.json and a prediction's meta record about this critic."""
        return {"combined": True, "features": list(self.combiner["features"]),
                "verifier": self.settings.model, "planner": self.settings.planner,
                "tasks": self.tasks()}

    def chains_for(self, examples: Sequence[Example]) -> dict[str, list[str]]:
        """The verifier chains of each question of ``examples`` (written on first use)."""
        todo = list({ex.question: ex for ex in examples
                     if ex.question not in self._chains}.values())
        if todo:
            self._chains.update(verifier_chains(self.verifier, todo, self.settings,
                                                self.batch_size))
        return {ex.question: self._chains[ex.question] for ex in examples}

    def answers_for(self, examples: Sequence[Example]) -> dict[str, list[str]]:
        """The verifier's answers to the planned subquestions of each question of
        ``examples`` (written on first use)."""
        todo = list({ex.question: ex for ex in examples
                     if ex.question not in self._answers}.values())
        if todo:
            self._answers.update(subquestion_answers(self.planner, self.verifier, todo,
                                                     self.settings, self.batch_size))
        return {ex.question: self._answers[ex.question] for ex in examples}

    def signals_of(self, judged: Sequence[Judged]) -> list[tuple[float, float, float]]:
        """:func:`signals` of each chain, the subquestions' only when the combiner reads
        them."""
        examples = [j[0] for j in judged]
        answers = self.answers_for(examples) if self.uses_subquestions else None
        return signals(judged, self.chains_for(examples), answers)

    def combine(self, judged: Sequence[Judged], learned: Sequence[float]) -> list[float]:
        """The combined P(no error) of each chain, from its learned P (read as the critic's
        ``critic.json`` says); chains of a task without a fit keep their learned P."""
        if len(judged) != len(learned):
            raise ValueError(f"{len(judged)} chains but {len(learned)} learned probabilities")
        out = list(learned)
        fitted = set(self.tasks())
        by_task: dict[str, list[int]] = {}
        for n, (ex, _, _) in enumerate(judged):
            if ex.task in fitted:
                by_task.setdefault(ex.task, []).append(n)
        for task, idx in by_task.items():
            sig = self.signals_of([judged[n] for n in idx])
            probs = combined_probabilities(
                self.combiner, task, [feature_row(learned[n], *s)
                                      for n, s in zip(idx, sig, strict=True)])
            assert probs is not None
            for n, p in zip(idx, probs, strict=True):
                out[n] = p
        return out

    def probabilities(self, judged: Sequence[Judged]) -> list[float]:
        """The combined P(no error) of each chain (its learned P scored first)."""
        return self.combine(judged, learned_probabilities(self.inner, judged, self.batch_size))


def planner_for(spec: str | None, critic: Any, load: Any) -> Any:
    """The planner ``spec`` names: None for none, ``critic`` itself for "self", else
    ``load(spec)``."""
    if spec is None:
        return None
    return critic if spec == SELF else load(spec)


def with_combiner(critic: Any, load_verifier: Any, batch_size: int | None = None,
                  load_planner: Any = None) -> Any:
    """``critic`` wrapped as a :class:`CombinedCritic` when the checkpoint it was loaded from
    holds a combiner (``load_verifier(spec)`` loads the verifier it names; the planner, when
    its features read one and it is not the critic itself ("self"), is loaded by
    ``load_planner``, by default ``load_verifier``), else ``critic`` as it is."""
    if critic is None or isinstance(critic, CombinedCritic):
        return critic
    folder = checkpoint_folder(critic)
    combiner = load_combiner(folder) if folder else None
    if not combiner or not combiner.get("tasks"):
        return critic
    planner = planner_for(combiner["verifier"].get("planner"), critic,
                          load_planner or load_verifier) \
        if "subquestions" in combiner["features"] else None
    return CombinedCritic(critic, load_verifier(combiner["verifier"]["model"]), combiner,
                          batch_size, planner)


def combine_or_keep(critic: Any, judged: Sequence[Judged], learned: Sequence[float]
                    ) -> list[float]:
    """``learned`` combined by ``critic`` when it is a :class:`CombinedCritic`, else as is."""
    if isinstance(critic, CombinedCritic):
        return critic.combine(judged, learned)
    return list(learned)
