"""What every objective's training pairs share: the :class:`Pair`, the term names, the
filter of inconsistent records, the term-weight check, and pairs files read from disk.

Each objective builds its own pairs beside its name (wording from
:mod:`feedback_data.text.instructions`): :func:`training.data.multitask_pairs.multitask_pairs`

  answer       question                -> corrected answer and explanation
  error_types  question, model chain   -> its error types ("no error" when there is none)
  description  question, model chain   -> the error description

and :func:`training.data.refine_pairs.refine_pairs`

  refine       question, model chain   -> "error types ; corrected answer and explanation"
               (a chain without error  -> "no error ; <the chain itself>")

Every chain, written or read, is rendered in the run's ``chain_order``
(:data:`feedback_data.text.chain_format.CHAIN_ORDERS`): the paper's answer-first form, or
reasoning first and then the answer. A correction whose answer contradicts the gold answer
is, under the ``drop`` policy (:mod:`feedback_data.records.consistency`), no answer or refine
target; its record still teaches its error types and description. How often each term is trained is
not set by the pairs but by the sampler (:mod:`training.data.batching`, ``data.term_weights``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from feedback_data.errors import DataError
from feedback_data.records.consistency import consistency_flags, is_inconsistent
from feedback_data.records.jsonl import iter_json_lines
from feedback_data.records.schema import FeedbackItem

# The paper's three multitask terms, trained by default.
PAPER_TERMS: tuple[str, ...] = ("answer", "error_types", "description")
# ...and the annotators' decomposition, p(subquestions | q): weight 0 unless
# data.term_weights names it (it plans the combined critic's verification questions).
SUBQUESTIONS_TERM = "subquestions"
MULTITASK_TERMS: tuple[str, ...] = (*PAPER_TERMS, SUBQUESTIONS_TERM)
REFINE_TERM = "refine"
REPLAY_TERM = "replay"


@dataclass(frozen=True)
class Pair:
    """One training example: the encoder's text, the decoder's text and the term it teaches."""

    source: str
    target: str
    term: str
    id: str = ""
    # the pair's weight in the loss (data.critic_balance: reweight); 1 for every other pair
    weight: float = 1.0


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


def check_weights(weights: Mapping[str, float], known: Sequence[str] = MULTITASK_TERMS) -> None:
    """Term weights name known terms, are >= 0 and have a positive sum."""
    unknown = sorted(set(weights) - set(known))
    if unknown:
        raise ValueError(f"unknown multitask term(s) {unknown}; terms are {list(known)}")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"term weights must be >= 0 with a positive sum, got {dict(weights)}")


# The critic's counterfactual edits (training/data/critic_pairs.py), each kind and the error
# type it gives by construction; data.critic_augment names them (checked with the config).
AUGMENTATIONS: dict[str, str] = {"fact_swap": "FE", "drop_step": "MF",
                                 "insert_fact": "IR", "flip_answer": "LI"}


def check_augment(shares: Mapping[str, float]) -> None:
    unknown = sorted(set(shares) - set(AUGMENTATIONS))
    if unknown:
        raise ValueError(f"data.critic_augment: unknown kind(s) {unknown}; kinds are "
                         f"{list(AUGMENTATIONS)}")
    bad = {k: v for k, v in shares.items() if not 0.0 <= v <= 1.0}
    if bad:
        raise ValueError(f"data.critic_augment: shares are in [0, 1], got {bad}")


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
