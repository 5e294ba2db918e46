"""Consistency flags on feedback records: counted and listed, never dropped silently."""

from __future__ import annotations

from feedback_data.records.schema import FeedbackItem
from feedback_data.text.answers import answers_match

# Flags that make a record unusable as a training target; the others are warnings.
# "no_error_type_ticked": the annotator ticked nothing (not even None), so "no error" would be
# a guess; "error_without_type": an error was described or located but given no type.
EXCLUDING_FLAGS = frozenset({"none_with_error_types", "empty_correction",
                             "no_error_type_ticked", "error_without_type"})


def consistency_flags(item: FeedbackItem) -> list[str]:
    """Flags for one record, including those set when it was made (``feedback.flags``)."""
    fb = item.feedback
    flags = list(fb.flags)
    if not fb.correction.text.strip():
        flags.append("empty_correction")
    elif fb.correction.answer is None:
        flags.append("unparsed_correction")
    elif item.example.answer is not None and not answers_match(
            item.example, fb.correction.answer, item.example.answer):
        flags.append("correction_contradicts_gold")
    selected = set(fb.error_types)
    for code, reason in fb.reasons.items():
        if code not in selected and reason.strip():
            flags.append(f"reason_without_type:{code}")
    for code in fb.error_types:
        if not fb.reasons.get(code, "").strip():
            flags.append(f"type_without_reason:{code}")
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
