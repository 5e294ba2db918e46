"""From feedback to text-to-text training pairs: pure functions, one per objective.

Multitask (one instruction per term, wording from :mod:`feedback_data.instructions`):
  answer       question                -> corrected answer and explanation
  error_types  question, model chain   -> its error types ("no error" when there is none)
  description  question, model chain   -> the error description
Refine:
  refine       question, model chain   -> "error types ; corrected answer and explanation"
               (a chain without error  -> "no error ; <the chain itself>")
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from feedback_data.consistency import consistency_flags, is_inconsistent
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


def term_pairs(item: FeedbackItem) -> dict[str, Pair]:
    """The three multitask pairs of one feedback record, keyed by term."""
    q, chain, fb = item.example.question, item.chain.text, item.feedback
    return {
        "answer": Pair(answer_prompt(q), fb.correction.text.strip(), "answer", fb.id),
        "error_types": Pair(error_types_prompt(q, chain), error_types_text(fb.error_types),
                            "error_types", fb.id),
        "description": Pair(description_prompt(q, chain),
                            description_text(fb.reasons, fb.error_types), "description", fb.id),
    }


def term_counts(n_items: int, weights: Mapping[str, float]) -> dict[str, int]:
    """How many pairs of each term a mixture of ``n_items`` records holds.

    The mixture has ``len(weights) * n_items`` pairs split by the weights' shares, so equal
    weights use every record once per term: {answer: 2, error_types: 1, description: 1} on
    100 records gives 150 / 75 / 75.
    """
    unknown = sorted(set(weights) - set(MULTITASK_TERMS))
    if unknown:
        raise ValueError(f"unknown multitask term(s) {unknown}; terms are {list(MULTITASK_TERMS)}")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"term weights must be >= 0 with a positive sum, got {dict(weights)}")
    total = sum(weights.values())
    size = len(MULTITASK_TERMS) * n_items
    return {t: round(size * weights.get(t, 0.0) / total) for t in MULTITASK_TERMS}


def multitask_pairs(items: Sequence[FeedbackItem], weights: Mapping[str, float] | None = None,
                    seed: int = 0) -> list[Pair]:
    """The multitask mixture: each term present in its configured share, shuffled.

    A term asked for more often than there are records repeats records (each record once
    before any twice); one asked for less uses a seeded sample of them.
    """
    weights = dict.fromkeys(MULTITASK_TERMS, 1.0) if weights is None else weights
    counts = term_counts(len(items), weights)
    per_item = [term_pairs(item) for item in items]
    rng = random.Random(seed)
    mixture: list[Pair] = []
    for term in MULTITASK_TERMS:
        pool = [p[term] for p in per_item]
        need = counts[term]
        while need > 0 and pool:
            order = rng.sample(pool, len(pool))
            mixture.extend(order[:need])
            need -= len(order[:need])
    rng.shuffle(mixture)
    return mixture


def refine_pair(item: FeedbackItem) -> Pair:
    q, chain, fb = item.example.question, item.chain.text, item.feedback
    if fb.error_types:
        target = refine_target(list(fb.error_types), fb.correction.text)
    else:
        target = refine_target([], chain)  # "no error ; <the chain itself>"
    return Pair(refine_prompt(q, chain), target, REFINE_TERM, fb.id)


def refine_pairs(items: Sequence[FeedbackItem]) -> list[Pair]:
    """One iterative-refinement pair per record, in the records' order."""
    return [refine_pair(item) for item in items]


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
