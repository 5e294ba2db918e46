"""Which step of a reviewed chain is the first wrong one: the policy shared by the step-level
exports (prm, processbench) and the step metrics.

Sources, in order of preference:
  1. ``feedback.step_ratings`` (one of correct / neutral / wrong / unsure per step): the first
     "wrong" step is the first wrong step. **Neutral counts as correct** (ProcessBench's first
     error is the earliest *wrong* step; a neutral step is not an error), so PRM800K's
     neutral rating is lost in the bool labels; pass ``neutral_is_correct=False`` to treat it
     as wrong instead. An "unsure" step before the first wrong one leaves the record out.
     (``feedback.first_wrong_step`` is derived from these ratings, so it is not read apart.)
  2. ``feedback.error_steps`` (the 1-based steps annotators marked): the smallest one.
  3. The error descriptions (``feedback.reasons``) of a record with error types, read by the
     conservative parser :func:`feedback_data.text.step_mentions.steps_from_descriptions` ("In step
     2, ...", "In steps 1 and 3, ..."): the smallest wrong step any selected type names
     (Irrelevant Facts names neutral steps, under the same ``neutral_is_correct`` switch).
  4. No error type and no error step: the annotator saw no error, so every step is correct.
  A record with error types but no step information is left out ("errors_without_step";
  :func:`step_label` keeps the parser's reason in ``description_why``).
  A record whose step ratings and ticked error steps disagree (flagged on pull,
  ``step_ratings_disagree``) is left out: neither source can be trusted over the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from feedback_data.records.consistency import RATINGS_DISAGREE as STEP_RATINGS_DISAGREE
from feedback_data.records.schema import FeedbackItem
from feedback_data.text.step_mentions import steps_from_descriptions

STEP_RATINGS: tuple[str, ...] = ("correct", "neutral", "wrong", "unsure")


STEP_SOURCES: tuple[str, ...] = ("step_ratings", "error_steps", "descriptions", "no_error")


@dataclass(frozen=True)
class StepLabel:
    """A record's first wrong step (0-based, -1 when none) and the source it came from, or
    why it has none (``description_why``: the description parser's reason, when it was
    asked and refused)."""

    first_wrong: int | None
    why: str | None = None
    source: str | None = None
    description_why: str | None = None


def step_label(item: FeedbackItem, neutral_is_correct: bool = True) -> StepLabel:
    """The first wrong step with its source; see the module docstring for the order."""
    fb, n = item.feedback, len(item.chain.steps)
    if n == 0:
        return StepLabel(None, "chain_without_steps")
    if STEP_RATINGS_DISAGREE in fb.flags:
        return StepLabel(None, STEP_RATINGS_DISAGREE)
    ratings = getattr(fb, "step_ratings", None)
    if ratings is not None:
        if len(ratings) != n:
            return StepLabel(None, "step_ratings_length_mismatch")
        bad = {"wrong"} if neutral_is_correct else {"wrong", "neutral"}
        for i, rating in enumerate(ratings):
            if rating not in STEP_RATINGS:
                return StepLabel(None, f"unknown_step_rating:{rating}")
            if rating == "unsure":
                return StepLabel(None, "unsure_step_before_first_wrong")
            if rating in bad:
                return StepLabel(i, source="step_ratings")
        return StepLabel(-1, source="step_ratings")
    if fb.error_steps:
        if not all(1 <= s <= n for s in fb.error_steps):
            return StepLabel(None, "error_step_out_of_range")
        return StepLabel(min(fb.error_steps) - 1, source="error_steps")
    if fb.error_types:
        described = steps_from_descriptions(fb.reasons, fb.error_types, item.chain.steps,
                                            neutral_is_correct)
        if described.first_wrong is not None:
            return StepLabel(described.first_wrong, source="descriptions")
        return StepLabel(None, "errors_without_step", description_why=described.why)
    return StepLabel(-1, source="no_error")


def first_wrong_step(item: FeedbackItem, neutral_is_correct: bool = True
                     ) -> tuple[int | None, str | None]:
    """(0-based index of the first wrong step or -1 when none, None) or (None, why unknown).

    See the module docstring for the order of the sources and the neutral/unsure policy.
    """
    label = step_label(item, neutral_is_correct)
    return label.first_wrong, label.why


def step_labels(n_steps: int, first_wrong: int) -> list[bool]:
    """True before the first wrong step, False from it on (all True when it is -1).

    >>> step_labels(4, 1)
    [True, False, False, False]
    """
    cut = n_steps if first_wrong < 0 else first_wrong
    return [i < cut for i in range(n_steps)]
