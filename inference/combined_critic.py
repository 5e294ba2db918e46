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
FEATURES: tuple[str, ...] = ("learned", "verification", "agreement")
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


def feature_row(learned: float, verification: float, agreement: float) -> list[float]:
    """The combiner's features: the learned P as its logit (clipped), then the two scores.

    >>> feature_row(0.5, 0.25, 1.0)
    [0.0, 0.25, 1.0]
    """
    p = min(max(learned, P_CLIP), 1 - P_CLIP)
    return [math.log(p / (1 - p)), verification, agreement]


def select(row: Sequence[float], features: Sequence[str]) -> list[float]:
    """The named features of a :func:`feature_row` (in :data:`FEATURES` order).

    >>> select([0.0, 0.25, 1.0], ["verification", "agreement"])
    [0.25, 1.0]
    """
    unknown = [f for f in features if f not in FEATURES]
    if unknown or not features:
        raise ValueError(f"combiner features must be some of {', '.join(FEATURES)}, got "
                         f"{list(features)}")
    return [row[FEATURES.index(f)] for f in features]


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


def signals(judged: Sequence[Judged], chains: dict[str, list[str]]
            ) -> list[tuple[float, float]]:
    """(verification, agreement) of each chain against the verifier chains of its
    question."""
    from feedback_data.tasks.registry import get_task
    from feedback_data.text.answers import answers_match, parse_answer_chain
    from feedback_data.text.claims import verification_score

    out = []
    for ex, text, answer in judged:
        theirs = chains[ex.question]
        reader = get_task(ex.task).claims
        answers = [parse_answer_chain(t, ex)[0] for t in theirs]
        out.append((verification_score(reader, ex.question, text, theirs),
                    agreement_score(answer, answers,
                                    same=lambda a, b, e=ex: answers_match(e, a, b))))
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
                 settings: VerifierSettings, batch_size: int | None = None
                 ) -> list[list[float]]:
    """The combiner's feature row (:func:`feature_row`) of each chain."""
    learned = learned_probabilities(critic, judged, batch_size)
    sig = signals(judged, verifier_chains(verifier, [j[0] for j in judged], settings,
                                          batch_size))
    return [feature_row(p, v, a) for p, (v, a) in zip(learned, sig, strict=True)]


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
                 batch_size: int | None = None) -> None:
        self.inner = learned
        self.verifier = verifier
        self.combiner = combiner
        self.settings = VerifierSettings(**combiner["verifier"])
        self.batch_size = batch_size
        self._chains: dict[str, list[str]] = {}

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
                "verifier": self.settings.model, "tasks": self.tasks()}

    def chains_for(self, examples: Sequence[Example]) -> dict[str, list[str]]:
        """The verifier chains of each question of ``examples`` (written on first use)."""
        todo = list({ex.question: ex for ex in examples
                     if ex.question not in self._chains}.values())
        if todo:
            self._chains.update(verifier_chains(self.verifier, todo, self.settings,
                                                self.batch_size))
        return {ex.question: self._chains[ex.question] for ex in examples}

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
            rows_of = [judged[n] for n in idx]
            sig = signals(rows_of, self.chains_for([j[0] for j in rows_of]))
            probs = combined_probabilities(
                self.combiner, task, [feature_row(learned[n], v, a)
                                      for n, (v, a) in zip(idx, sig, strict=True)])
            assert probs is not None
            for n, p in zip(idx, probs, strict=True):
                out[n] = p
        return out

    def probabilities(self, judged: Sequence[Judged]) -> list[float]:
        """The combined P(no error) of each chain (its learned P scored first)."""
        return self.combine(judged, learned_probabilities(self.inner, judged, self.batch_size))


def with_combiner(critic: Any, load_verifier: Any, batch_size: int | None = None) -> Any:
    """``critic`` wrapped as a :class:`CombinedCritic` when the checkpoint it was loaded from
    holds a combiner (``load_verifier(spec)`` loads the verifier it names), else ``critic``
    as it is."""
    if critic is None or isinstance(critic, CombinedCritic):
        return critic
    folder = checkpoint_folder(critic)
    combiner = load_combiner(folder) if folder else None
    if not combiner or not combiner.get("tasks"):
        return critic
    return CombinedCritic(critic, load_verifier(combiner["verifier"]["model"]), combiner,
                          batch_size)


def combine_or_keep(critic: Any, judged: Sequence[Judged], learned: Sequence[float]
                    ) -> list[float]:
    """``learned`` combined by ``critic`` when it is a :class:`CombinedCritic`, else as is."""
    if isinstance(critic, CombinedCritic):
        return critic.combine(judged, learned)
    return list(learned)
