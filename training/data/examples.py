"""From feedback to text-to-text training pairs: pure functions, one per objective.

Multitask (one instruction per term, wording from :mod:`feedback_data.instructions`):
  answer       question                -> corrected answer and explanation
  error_types  question, model chain   -> its error types ("no error" when there is none)
  description  question, model chain   -> the error description
Refine:
  refine       question, model chain   -> "error types ; corrected answer and explanation"
               (a chain without error  -> "no error ; <the chain itself>")

Every chain, written or read, is rendered in the run's ``chain_order``
(:data:`feedback_data.chain_format.CHAIN_ORDERS`): the paper's answer-first form, or
reasoning first and then the answer. A correction whose answer contradicts the gold answer
is, under the ``drop`` policy (:mod:`feedback_data.consistency`), no answer or refine target;
its record still teaches its error types and description. How often each term is trained is
not set here but by the sampler (:mod:`training.data.batching`, ``data.term_weights``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from feedback_data.chain_format import reorder_chain
from feedback_data.consistency import (
    check_policy,
    consistency_flags,
    contradicts_gold,
    is_inconsistent,
)
from feedback_data.instructions import (
    answer_prompt,
    description_prompt,
    description_text,
    error_types_prompt,
    error_types_text,
    refine_prompt,
    refine_target,
)
from feedback_data.jsonl import DataError, iter_json_lines
from feedback_data.schema import FeedbackItem

MULTITASK_TERMS: tuple[str, ...] = ("answer", "error_types", "description")
REFINE_TERM = "refine"
REPLAY_TERM = "replay"
# The terms a contradicting correction is a target of.
CORRECTION_TERMS = frozenset({"answer", REFINE_TERM})


@dataclass(frozen=True)
class Pair:
    """One training example: the encoder's text, the decoder's text and the term it teaches."""

    source: str
    target: str
    term: str
    id: str = ""


@dataclass(frozen=True)
class Filtered:
    """Records kept for training, and how many were left out for which flag."""

    kept: list[FeedbackItem]
    left_out: int
    left_out_flags: dict[str, int]


def filter_consistent(items: Iterable[FeedbackItem]) -> Filtered:
    """Leave out records the data layer flags as inconsistent, counting why."""
    kept: list[FeedbackItem] = []
    flags: Counter[str] = Counter()
    left_out = 0
    for item in items:
        if is_inconsistent(item):
            left_out += 1
            flags.update(consistency_flags(item))
        else:
            kept.append(item)
    return Filtered(kept, left_out, dict(sorted(flags.items())))


def term_pairs(item: FeedbackItem, order: str = "answer_first") -> dict[str, Pair]:
    """The three multitask pairs of one feedback record, keyed by term, chains in ``order``."""
    q, fb = item.example.question, item.feedback
    chain = reorder_chain(item.chain.text, order)
    return {
        "answer": Pair(answer_prompt(q), reorder_chain(fb.correction.text, order), "answer",
                       fb.id),
        "error_types": Pair(error_types_prompt(q, chain), error_types_text(fb.error_types),
                            "error_types", fb.id),
        "description": Pair(description_prompt(q, chain),
                            description_text(fb.reasons, fb.error_types), "description", fb.id),
    }


def check_weights(weights: Mapping[str, float], known: Sequence[str] = MULTITASK_TERMS) -> None:
    """Term weights name known terms, are >= 0 and have a positive sum."""
    unknown = sorted(set(weights) - set(known))
    if unknown:
        raise ValueError(f"unknown multitask term(s) {unknown}; terms are {list(known)}")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"term weights must be >= 0 with a positive sum, got {dict(weights)}")


def multitask_pairs(items: Sequence[FeedbackItem], weights: Mapping[str, float] | None = None,
                    order: str = "answer_first", contradicting: str = "drop") -> list[Pair]:
    """Every record's pair for each term with a positive weight (all three by default), in
    record order; under ``contradicting="drop"`` no answer pair for a correction that
    contradicts the gold answer. Each term's share of the training steps is the sampler's
    (``data.term_weights``), not the number of pairs here.
    """
    check_policy(contradicting)
    weights = dict.fromkeys(MULTITASK_TERMS, 1.0) if weights is None else weights
    check_weights(weights)
    terms = [t for t in MULTITASK_TERMS if weights.get(t, 0.0) > 0]
    out: list[Pair] = []
    for item in items:
        drop = contradicting == "drop" and contradicts_gold(item)
        pairs = term_pairs(item, order)
        out += [pairs[t] for t in terms if not (drop and t in CORRECTION_TERMS)]
    return out


def refine_pair(item: FeedbackItem, order: str = "answer_first") -> Pair:
    q, fb = item.example.question, item.feedback
    chain = reorder_chain(item.chain.text, order)
    if fb.error_types:
        target = refine_target(list(fb.error_types), reorder_chain(fb.correction.text, order))
    else:
        target = refine_target([], chain)  # "no error ; <the chain itself>"
    return Pair(refine_prompt(q, chain), target, REFINE_TERM, fb.id)


def refine_pairs(items: Sequence[FeedbackItem], order: str = "answer_first",
                 contradicting: str = "drop") -> list[Pair]:
    """One iterative-refinement pair per record, in the records' order; under
    ``contradicting="drop"`` none for a record whose correction contradicts the gold answer
    (its target would teach the wrong answer)."""
    check_policy(contradicting)
    return [refine_pair(item, order) for item in items
            if not (contradicting == "drop" and contradicts_gold(item))]


def load_pairs(path: str | Path) -> list[Pair]:
    """Read a pairs file: JSON lines of {"source": str, "target": str, "term": str}."""
    pairs = []
    for lineno, obj in iter_json_lines(path):
        missing = [k for k in ("source", "target", "term") if not isinstance(obj.get(k), str)]
        if missing:
            raise DataError(f"{path}:{lineno}: field(s) {missing} missing or not a string")
        extra = sorted(set(obj) - {"source", "target", "term", "id"})
        if extra:
            raise DataError(f"{path}:{lineno}: unknown field(s) {extra}")
        pairs.append(Pair(obj["source"], obj["target"], obj["term"], str(obj.get("id", ""))))
    return pairs
