"""Consistency flags on feedback records: counted and listed, never dropped silently."""

from __future__ import annotations

from feedback_data.records.schema import FeedbackItem
from feedback_data.text.answers import answers_match

# The flag names: defined here only. annotation.convert sets the first group when it makes a
# record (``feedback.flags``); consistency_flags adds the second when a record is checked.
NONE_WITH_TYPES = "none_with_error_types"
NO_TYPE_TICKED = "no_error_type_ticked"  # neither "None" nor a type: unknown, not "no error"
ERROR_WITHOUT_TYPE = "error_without_type"  # descriptions, steps or a wrong step, but no type
RATINGS_INCOMPLETE = "step_ratings_incomplete"
# The "Step or steps with an error" choices say other steps than those rated Wrong (a step
# rated Correct but ticked, or rated Wrong but not ticked among ticked ones): the page
# contradicts itself, so the record is left out of step-level training (step_policy).
RATINGS_DISAGREE = "step_ratings_disagree"
ANSWER_UNREADABLE = "answer_unreadable"  # the answer area holds no answer of the task's type
CONVERSION_FLAGS = frozenset({NONE_WITH_TYPES, NO_TYPE_TICKED, ERROR_WITHOUT_TYPE,
                              RATINGS_INCOMPLETE, RATINGS_DISAGREE, ANSWER_UNREADABLE})

EMPTY_CORRECTION = "empty_correction"
UNPARSED_CORRECTION = "unparsed_correction"
CONTRADICTS_GOLD = "correction_contradicts_gold"
# Prefixes: the flag is ``<prefix>:<error code>``.
REASON_WITHOUT_TYPE = "reason_without_type"
TYPE_WITHOUT_REASON = "type_without_reason"
CHECK_FLAGS = frozenset({EMPTY_CORRECTION, UNPARSED_CORRECTION, CONTRADICTS_GOLD,
                         REASON_WITHOUT_TYPE, TYPE_WITHOUT_REASON})

# Flags that make a record unusable as a training target; the others are warnings.
# NO_TYPE_TICKED: the annotator ticked nothing (not even None), so "no error" would be a
# guess; ERROR_WITHOUT_TYPE: an error was described or located but given no type.
EXCLUDING_FLAGS = frozenset({NONE_WITH_TYPES, EMPTY_CORRECTION, NO_TYPE_TICKED,
                             ERROR_WITHOUT_TYPE})


def consistency_flags(item: FeedbackItem) -> list[str]:
    """Flags for one record, including those set when it was made (``feedback.flags``)."""
    fb = item.feedback
    flags = list(fb.flags)
    if not fb.correction.text.strip():
        flags.append(EMPTY_CORRECTION)
    elif fb.correction.answer is None:
        flags.append(UNPARSED_CORRECTION)
    elif item.example.answer is not None and not answers_match(
            item.example, fb.correction.answer, item.example.answer):
        flags.append(CONTRADICTS_GOLD)
    selected = set(fb.error_types)
    for code, reason in fb.reasons.items():
        if code not in selected and reason.strip():
            flags.append(f"{REASON_WITHOUT_TYPE}:{code}")
    for code in fb.error_types:
        if not fb.reasons.get(code, "").strip():
            flags.append(f"{TYPE_WITHOUT_REASON}:{code}")
    return list(dict.fromkeys(flags))


# What a correction that contradicts the gold answer becomes in training and exports: no
# answer/refine/SFT/chosen target ("drop"), or a target like any other ("keep", the paper).
CONTRADICTING_POLICIES: tuple[str, ...] = ("drop", "keep")


def contradicts_gold(item: FeedbackItem) -> bool:
    """True when the correction's answer can be read and is not the gold answer (nor one of
    its aliases). An unlabelled question (no gold answer) has nothing to contradict."""
    answer, gold = item.feedback.correction.answer, item.example.answer
    return answer is not None and gold is not None and not answers_match(item.example,
                                                                         answer, gold)


def check_policy(policy: str) -> str:
    if policy not in CONTRADICTING_POLICIES:
        raise ValueError(f"unknown contradicting-corrections policy {policy!r}; known: "
                         f"{', '.join(CONTRADICTING_POLICIES)}")
    return policy


def is_inconsistent(item: FeedbackItem) -> bool:
    """True when a record must be left out of training (see EXCLUDING_FLAGS)."""
    return any(f in EXCLUDING_FLAGS for f in consistency_flags(item))
