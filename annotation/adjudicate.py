"""One Feedback per chain where annotators disagree: a named reviewer wins, else the majority.

Open-source Label Studio has no reviewer workflow, so adjudication happens here, on pulled
records. Majority is strict (more than half): with two annotators who disagree, only what both
ticked survives. The correction, reasons and subquestions come from an annotator whose error
types equal the majority's (the earliest such), else from the earliest annotator.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from annotation.agreement import group_by_chain
from feedback_data.records.consistency import is_inconsistent
from feedback_data.records.schema import ERROR_CODES, FeedbackItem

MAJORITY_FLAG = "adjudicated_majority"
REVIEWER_FLAG = "adjudicated_reviewer"


def disagree(items: Iterable[FeedbackItem]) -> bool:
    """True when the annotators' error types or error steps differ."""
    seen = {(tuple(sorted(i.feedback.error_types)), tuple(sorted(i.feedback.error_steps)))
            for i in items}
    return len(seen) > 1


def adjudicate_chain(items: list[FeedbackItem], reviewer: str | None = None) -> FeedbackItem:
    """The adjudicated record of one chain's annotations (at least one)."""
    items = sorted(items, key=lambda i: i.feedback.time or "")
    chain_id = items[0].chain.id
    source = "simulated" if all(i.feedback.source == "simulated" for i in items) else "human"
    time = max((i.feedback.time or "" for i in items), default="") or None
    by_reviewer = [i for i in items if reviewer and i.feedback.annotator == reviewer]
    if by_reviewer:
        base = by_reviewer[-1]
        fb = base.feedback.model_copy(update={
            "id": f"adjudicated/{chain_id}", "annotator": f"reviewer:{reviewer}",
            "source": source, "time": time, "flags": [*base.feedback.flags, REVIEWER_FLAG],
            "raw": {"from": [i.feedback.id for i in items]}})
        return base.model_copy(update={"feedback": fb})
    usable = [i for i in items if not is_inconsistent(i)] or items
    half = len(usable) / 2
    type_votes = Counter(c for i in usable for c in set(i.feedback.error_types))
    step_votes = Counter(s for i in usable for s in set(i.feedback.error_steps))
    types = [c for c in ERROR_CODES if type_votes[c] > half]
    steps = sorted(s for s, v in step_votes.items() if v > half)
    base = next((i for i in usable if sorted(i.feedback.error_types) == sorted(types)), usable[0])
    fb = base.feedback.model_copy(update={
        "id": f"adjudicated/{chain_id}",
        "annotator": "majority:" + ",".join(sorted({i.feedback.annotator for i in usable})),
        "source": source, "error_types": types, "error_steps": steps,
        "reasons": {c: r for c, r in base.feedback.reasons.items() if c in types},
        "time": time, "flags": [MAJORITY_FLAG],
        "raw": {"from": [i.feedback.id for i in items]}})
    return base.model_copy(update={"feedback": fb})


def adjudicate(items: Iterable[FeedbackItem], reviewer: str | None = None) -> list[FeedbackItem]:
    """Adjudicated records for every chain whose several annotators disagree."""
    out = []
    for group in group_by_chain(items).values():
        annotations = list(group.values())
        if disagree(annotations):
            out.append(adjudicate_chain(annotations, reviewer))
    return out
