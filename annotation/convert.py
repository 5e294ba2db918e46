"""Label Studio's full JSON export (or one webhook payload) -> FeedbackItems. Pure and strict.

Rules seen on the real server: result items come in no fixed order (keyed on ``from_name``);
an empty TextArea is left out; multi-line text arrives as one string in ``text[0]``; "None"
can be ticked together with an error type (flagged, not guessed). Cancelled annotations and
annotations with an empty result are skipped and counted; every other annotation of a task is
kept, each with its annotator. Problems that leave a record unusable for training are flags on
the record (see feedback_data.records.consistency), never silent defaults. The result list itself is
read by annotation.result_fields. Every bad annotation is named (task, annotation, field,
why), not only the first: by default any bad one refuses the whole export; ``keep_good``
returns the good ones and lists the bad in ``Conversion.rejected``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from annotation import labeling_config as lc
from annotation.result_fields import prefill_of, result_fields, step_ratings
from annotation.tasks import validate_task_data
from feedback_data.errors import DataError
from feedback_data.records.consistency import (  # the flags set here
    ANSWER_UNREADABLE,
    ERROR_WITHOUT_TYPE,
    NO_TYPE_TICKED,
    NONE_WITH_TYPES,
    RATINGS_DISAGREE,
    RATINGS_INCOMPLETE,
)
from feedback_data.records.schema import (
    ERROR_CODES,
    SCHEMA_VERSION,
    Correction,
    Feedback,
    FeedbackItem,
)
from feedback_data.text.answers import normalize_answer, parse_answer_chain
from feedback_data.text.chain_format import format_chain

SIMULATOR_DOMAIN = "@rhf.local"
SIMULATOR_PREFIX = "rhf-simulator"
MAX_ID = 2**63 - 1  # Label Studio's ids are 64-bit integers

# An unlabelled question's example takes its answer from the correction; meta says so.
ANSWER_FROM = "answer_from"


def simulator_email(k: int = 1) -> str:
    """The Label Studio user of simulated annotator ``k`` (dedicated to the bot)."""
    return f"{SIMULATOR_PREFIX}-{k}{SIMULATOR_DOMAIN}"


def is_simulator_email(email: str) -> bool:
    return email.startswith(SIMULATOR_PREFIX + "-") and email.endswith(SIMULATOR_DOMAIN)


class EmptyAnnotation(DataError):
    """An annotation whose result is empty: nothing to convert (skipped and counted)."""


def feedback_id(project: Any, annotation_id: Any) -> str:
    """Stable per Label Studio annotation (the same in pull and webhook records)."""
    return f"labelstudio/p{project}/a{annotation_id}"


def positive_id(value: Any, what: str) -> int:
    """``value`` if it is a positive integer id, else a DataError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
        raise DataError(f"{what} must be a positive integer, got {shown}")
    return value


def annotator_id(user: Any) -> int | None:
    """The Label Studio user id of ``completed_by`` (an id or an inlined user object)."""
    if isinstance(user, Mapping):
        user = user.get("id")
    return user if isinstance(user, int) and not isinstance(user, bool) else None


def annotator_name(user: Any, users: Mapping[int, str]) -> str:
    """The annotator's email; ``ls-user:<id>`` when the id is not in ``users``."""
    if isinstance(user, Mapping):  # the UI's export inlines the user
        return str(user.get("email") or f"ls-user:{user.get('id')}")
    return users.get(user, f"ls-user:{user}")


def _lossy_text(name: str, text: str, feedback: Feedback) -> bool:
    """True when the record's field does not hold ``text`` exactly (so raw keeps a copy)."""
    if name == lc.CORRECTION:
        return feedback.correction.text != text
    if name == lc.SUBQUESTIONS:
        return "\n".join(feedback.subquestions) != text
    for code, tag in lc.REASONS.items():
        if name == tag:
            return feedback.reasons.get(code, "") != text
    return True


def _raw(annotation: Mapping[str, Any], fields: Mapping[str, Any], feedback: Feedback,
         project: Any, task_id: Any) -> dict[str, Any]:
    """Ids and the result, with each text the record already holds exactly left out (the
    text is stored once)."""
    result = [item for item in annotation["result"]
              if not (item["from_name"] in lc.TEXT_TAGS
                      and not _lossy_text(item["from_name"], fields[item["from_name"]], feedback))]
    return {"project": project, "task": task_id, "annotation": annotation["id"],
            "result": result}


def _bad_unicode(text: str) -> int | None:
    """The position of the first character no UTF-8 file can hold (a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def check_unicode(annotation: Mapping[str, Any], task: Mapping[str, Any], where: str) -> None:
    """Every text of the annotation's result (field: its ``from_name``) and of the task's
    data (field: 'data.KEY') is valid Unicode, else a DataError naming task, annotation,
    field and the position: a lone surrogate would fail only when the record is written."""
    result = annotation.get("result")
    places: list[tuple[str, Any]] = []
    for item in result if isinstance(result, list) else []:
        if isinstance(item, Mapping):
            places.append((str(item.get("from_name")), item.get("value")))
    data = task.get("data")
    if isinstance(data, Mapping):
        places += [(f"data.{key}", value) for key, value in data.items()]
    places += [(key, annotation.get(key)) for key in ("completed_by", "updated_at",
                                                      "created_at")]
    for name, value in places:
        stack = [value]
        while stack:
            node = stack.pop()
            if isinstance(node, Mapping):
                stack.extend([*node.keys(), *node.values()])
            elif isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, str) and (at := _bad_unicode(node)) is not None:
                raise DataError(f"{where}, field '{name}': text that is not valid Unicode (a "
                                f"lone surrogate at character {at})")


def _lead_time(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value < 0:
        raise DataError(f"{where}: field 'lead_time' must be a non-negative number of seconds")
    return float(value)


def _timestamp(annotation: Mapping[str, Any], key: str, where: str) -> str | None:
    value = annotation.get(key)
    if value is not None and not isinstance(value, str):
        raise DataError(f"{where}: field '{key}' must be a string")
    return value


def feedback_from_annotation(
    annotation: Mapping[str, Any],
    task: Mapping[str, Any],
    users: Mapping[int, str],
    simulator_ids: frozenset[int] = frozenset(),
) -> FeedbackItem:
    """One submitted annotation as a FeedbackItem; errors name task, annotation and field."""
    task_id = task.get("id")
    ann_id = annotation.get("id")
    where = f"task {task_id!r}, annotation {ann_id!r}"
    positive_id(ann_id, f"{where}: annotation id")
    positive_id(task_id, f"{where}: task id")
    check_unicode(annotation, task, where)
    for key in ("id", "result", "completed_by", "updated_at"):
        if key not in annotation:
            raise DataError(f"{where}: field '{key}' missing")
    user = annotation["completed_by"]
    if annotator_id(user) is None:
        raise DataError(f"{where}: field 'completed_by' must be a user id or a user object")
    updated_at = _timestamp(annotation, "updated_at", where)
    created_at = _timestamp(annotation, "created_at", where)
    lead_time = _lead_time(annotation.get("lead_time"), where)
    example, chain = validate_task_data(task.get("data"), f"task {task_id}")
    if isinstance(annotation["result"], list) and not annotation["result"]:
        raise EmptyAnnotation(f"{where}: empty result")
    fields = result_fields(annotation["result"], where)

    flags: list[str] = []
    ticked = fields.get(lc.ERROR_TYPES, [])
    types: list[str] = []
    for choice in ticked:
        if choice == lc.NO_ERROR:
            continue
        if choice not in lc.CODE_BY_CHOICE:
            raise DataError(f"{where}, field '{lc.ERROR_TYPES}': unknown choice {choice!r}")
        types.append(lc.CODE_BY_CHOICE[choice])
    if lc.NO_ERROR in ticked and types:
        flags.append(NONE_WITH_TYPES)
    if not ticked:
        flags.append(NO_TYPE_TICKED)

    steps: list[int] = []
    for choice in fields.get(lc.ERROR_STEPS, []):
        n = lc.step_number(choice)
        if n is None or not 1 <= n <= len(chain.steps):
            raise DataError(f"{where}, field '{lc.ERROR_STEPS}': unknown choice {choice!r}")
        steps.append(n)
    ratings, complete = step_ratings(fields, chain, where)
    if not complete:
        flags.append(RATINGS_INCOMPLETE)
    if ratings_disagree(ratings, steps):
        flags.append(RATINGS_DISAGREE)

    text = fields.get(lc.CORRECTION, "")
    answer, corr_steps, _ = parse_answer_chain(text, example)
    area = _answer_area(fields, example)
    if area is False:
        flags.append(ANSWER_UNREADABLE)
    elif area is not None:
        if area != answer:  # the correction states the answer the annotator chose
            text = format_chain(area, corr_steps)
        answer = area
    if example.answer is None and answer is not None:
        # An unlabelled question: the annotator's correction supplies its answer.
        example = example.model_copy(update={"answer": answer, "meta": {
            **example.meta, ANSWER_FROM: "correction"}})
    reasons = {code: fields[tag].strip() for code, tag in lc.REASONS.items()
               if fields.get(tag, "").strip()}
    if not types and (reasons or steps or (ratings and "wrong" in ratings)):
        flags.append(ERROR_WITHOUT_TYPE)
    subquestions = [line.strip() for line in fields.get(lc.SUBQUESTIONS, "").splitlines()
                    if line.strip()]
    uid = annotator_id(user)
    simulated = (fields.get(lc.ORIGIN, "").strip() == lc.SIMULATED_MARK or uid in simulator_ids)
    project = annotation.get("project", task.get("project"))
    if project is None:
        raise DataError(f"{where}: field 'project' missing (in the annotation and the task)")
    positive_id(project, f"{where}: project id")
    feedback = Feedback(
        id=feedback_id(project, ann_id),
        chain_id=chain.id,
        annotator=annotator_name(user, users),
        source="simulated" if simulated else "human",
        subquestions=subquestions,
        correction=Correction(text=text, answer=answer, steps=corr_steps),
        error_types=sorted(set(types), key=ERROR_CODES.index),
        reasons=reasons,
        error_steps=sorted(set(steps)),
        time=updated_at,
        flags=flags,
        schema_version=SCHEMA_VERSION,
        step_ratings=ratings,
        lead_time=lead_time,
        created_at=created_at,
        annotator_id=uid,
        prefill=prefill_of(annotation, task, fields, where),
    )
    feedback.raw = _raw(annotation, fields, feedback, project, task_id)
    return FeedbackItem(example=example, chain=chain, feedback=feedback)


def ratings_disagree(ratings: list[str] | None, error_steps: list[int]) -> bool:
    """True when steps are ticked as wrong (1-based) and they are not exactly the steps
    rated Wrong. Nothing ticked is no disagreement: the ratings alone say where."""
    if ratings is None or not error_steps:
        return False
    rated_wrong = {i for i, r in enumerate(ratings, start=1) if r == "wrong"}
    return set(error_steps) != rated_wrong


def _answer_area(fields: Mapping[str, Any], example: Any) -> str | bool | None:
    """The answer chosen or typed in the answer area, normalized; None when the task has no
    answer area (yes/no) or it was left empty, False when it holds no answer of the type."""
    if lc.ANSWER_CHOICE in fields:
        chosen = fields[lc.ANSWER_CHOICE]
        raw = chosen[0] if len(chosen) == 1 else None
    else:
        raw = fields.get(lc.ANSWER_TEXT, "").strip() or None
    if raw is None:
        return None
    answer = normalize_answer(raw, example)
    return False if answer is None else answer


_FIELD = re.compile(r"field '([^']*)'")


@dataclass(frozen=True)
class Rejected:
    """One annotation (or task) an export could not use: where it is and why."""

    task: Any
    annotation: Any
    field: str | None
    why: str
    raw: Any = None  # the annotation (or task) as exported: kept, never lost

    @classmethod
    def of(cls, task: Any, annotation: Any, message: str, raw: Any = None) -> Rejected:
        found = _FIELD.search(message)
        return cls(task, annotation, found.group(1) if found else None, message, raw)

    def line(self) -> str:
        """'task T, annotation A: why' (the annotation added where ``why`` lacks it)."""
        if self.annotation is None or "annotation" in self.why:
            return self.why
        head = f"task {self.task}: "
        rest = self.why[len(head):] if self.why.startswith(head) else self.why
        return f"task {self.task}, annotation {self.annotation}: {rest}"

    def record(self) -> dict[str, Any]:
        """The rejects file's line for it, with the annotation as exported."""
        return {"task": self.task, "annotation": self.annotation, "field": self.field,
                "why": self.line(), "raw": self.raw}


class BadRecords(DataError):
    """An export with bad annotations, refused whole; ``rejected`` lists every one."""

    def __init__(self, rejected: list[Rejected], total: int) -> None:
        self.rejected, self.total = rejected, total
        if len(rejected) == 1:
            message = rejected[0].why
        else:
            message = (f"{len(rejected)} of {total} annotations are bad (nothing was written; "
                       f"--keep-good writes the good ones and lists these in a rejects "
                       f"file):\n" + "\n".join(f"  {r.line()}" for r in rejected))
        super().__init__(message)


@dataclass
class Conversion:
    """What a conversion produced and what it skipped, flagged or rejected (all counted)."""

    items: list[FeedbackItem] = field(default_factory=list)
    cancelled: int = 0
    empty: list[str] = field(default_factory=list)  # "task T, annotation A" of each
    rejected: list[Rejected] = field(default_factory=list)
    total: int = 0  # annotations (and annotation-less bad tasks) seen

    @property
    def flagged(self) -> dict[str, int]:
        counts: Counter[str] = Counter(f for i in self.items for f in i.feedback.flags)
        return dict(sorted(counts.items()))

    def summary(self) -> str:
        parts = [f"{len(self.items)} annotations converted",
                 f"{self.cancelled} cancelled skipped"]
        if self.empty:
            shown = "; ".join(self.empty[:3]) + (" ..." if len(self.empty) > 3 else "")
            parts.append(f"{len(self.empty)} with an empty result skipped ({shown})")
        if self.rejected:
            parts.append(f"{len(self.rejected)} bad rejected")
        if self.flagged:
            parts.append("flagged " + ", ".join(f"{k}: {v}" for k, v in self.flagged.items()))
        return "; ".join(parts)


def _describe(obj: Any) -> str:
    if isinstance(obj, Mapping):
        return "an empty object {}" if not obj else "an object"
    return f"a {type(obj).__name__}"


def convert(tasks: Any, users: Mapping[int, str],
            simulator_ids: frozenset[int] = frozenset(), keep_good: bool = False
            ) -> Conversion:
    """All submitted annotations of a full JSON export (a list of tasks), in export order.

    Every malformed task or annotation, and every annotation id seen twice, is named. By
    default any of them raises :class:`BadRecords` listing them all (nothing is returned);
    with ``keep_good`` they are listed in ``rejected`` and the good ones returned. Cancelled
    and empty annotations are skipped and counted.
    """
    if not isinstance(tasks, list):
        raise DataError(f"expected a list of tasks (Label Studio's JSON export), got "
                        f"{_describe(tasks)}")
    out = Conversion()
    seen: dict[Any, Any] = {}

    def reject(task_id: Any, ann_id: Any, message: str, raw: Any = None) -> None:
        out.total += 1
        out.rejected.append(Rejected.of(task_id, ann_id, message, raw))

    for n, task in enumerate(tasks):
        if not isinstance(task, Mapping):
            reject(None, None, f"task #{n + 1} of the export is not an object", task)
            continue
        annotations = task.get("annotations", [])
        if not isinstance(annotations, list):
            reject(task.get("id"), None,
                   f"task {task.get('id')}: field 'annotations' must be a list", task)
            continue
        for annotation in annotations:
            if not isinstance(annotation, Mapping):
                reject(task.get("id"), None,
                       f"task {task.get('id')}: an annotation is not an object", annotation)
                continue
            ann_id = annotation.get("id")
            if isinstance(ann_id, int | str) and ann_id in seen:
                other = seen[ann_id]
                place = "twice in task" if other == task.get("id") else f"in tasks {other} and"
                reject(task.get("id"), ann_id,
                       f"annotation id {ann_id} appears {place} {task.get('id')}", annotation)
                continue
            if isinstance(ann_id, int | str):
                seen[ann_id] = task.get("id")
            out.total += 1
            if annotation.get("was_cancelled"):
                out.cancelled += 1
                continue
            try:
                out.items.append(feedback_from_annotation(annotation, task, users, simulator_ids))
            except EmptyAnnotation:
                out.empty.append(f"task {task.get('id')}, annotation {ann_id}")
            except DataError as exc:
                out.total -= 1
                reject(task.get("id"), ann_id, str(exc), annotation)
    if out.rejected and not keep_good:
        raise BadRecords(out.rejected, out.total)
    return out


def convert_export(
    tasks: Iterable[Mapping[str, Any]],
    users: Mapping[int, str],
    simulator_ids: frozenset[int] = frozenset(),
) -> list[FeedbackItem]:
    """The records of :func:`convert` (counts dropped)."""
    return convert(tasks, users, simulator_ids).items

