"""Label Studio's full JSON export -> FeedbackItems. Pure and strict.

Rules seen on the real server: result items come in no fixed order (keyed on ``from_name``);
an empty TextArea is left out; multi-line text arrives as one string in ``text[0]``; "None"
can be ticked together with an error type (flagged, not guessed). Cancelled annotations are
skipped; every other annotation of a task is kept, each with its annotator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from annotation.tasks import validate_task_data
from feedback_data import labeling_config as lc
from feedback_data.chain_format import parse_chain
from feedback_data.jsonl import DataError
from feedback_data.schema import ERROR_CODES, Correction, Feedback, FeedbackItem

SIMULATOR_DOMAIN = "@rhf.local"
SIMULATOR_PREFIX = "rhf-simulator"


def simulator_email(k: int = 1) -> str:
    """The Label Studio user of simulated annotator ``k`` (dedicated to the bot)."""
    return f"{SIMULATOR_PREFIX}-{k}{SIMULATOR_DOMAIN}"


def is_simulator_email(email: str) -> bool:
    return email.startswith(SIMULATOR_PREFIX + "-") and email.endswith(SIMULATOR_DOMAIN)
NONE_WITH_TYPES = "none_with_error_types"


def feedback_id(project: Any, annotation_id: Any) -> str:
    """Stable per Label Studio annotation (the same in pull and webhook records)."""
    return f"labelstudio/p{project}/a{annotation_id}"


def annotator_name(user: Any, users: Mapping[int, str]) -> str:
    """The annotator's email; ``ls-user:<id>`` when the id is not in ``users``."""
    if isinstance(user, Mapping):  # some exports inline the user
        return str(user.get("email") or f"ls-user:{user.get('id')}")
    return users.get(user, f"ls-user:{user}")


def _text(item: Mapping[str, Any], where: str) -> str:
    value = item.get("value")
    text = value.get("text") if isinstance(value, Mapping) else None
    if not isinstance(text, list) or not all(isinstance(t, str) for t in text):
        raise DataError(f"{where}: value.text must be a list of strings")
    return "\n".join(text)


def _choices(item: Mapping[str, Any], where: str) -> list[str]:
    value = item.get("value")
    choices = value.get("choices") if isinstance(value, Mapping) else None
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise DataError(f"{where}: value.choices must be a list of strings")
    return choices


def result_fields(result: Any, where: str) -> dict[str, Any]:
    """Key a result list on ``from_name``: text tags -> str, choice tags -> list[str]."""
    if not isinstance(result, list):
        raise DataError(f"{where}: result must be a list")
    fields: dict[str, Any] = {}
    for item in result:
        if not isinstance(item, Mapping):
            raise DataError(f"{where}: result item is not an object")
        name = item.get("from_name")
        at = f"{where}, field '{name}'"
        if name in lc.TEXT_TAGS:
            fields[name] = _text(item, at)
        elif name in lc.CHOICE_TAGS:
            fields[name] = _choices(item, at)
        else:
            raise DataError(f"{at}: unknown from_name")
    return fields


def feedback_from_annotation(
    annotation: Mapping[str, Any],
    task: Mapping[str, Any],
    users: Mapping[int, str],
    simulator_ids: frozenset[int] = frozenset(),
) -> FeedbackItem:
    """One submitted annotation as a FeedbackItem; errors name task, annotation and field."""
    task_id = task.get("id")
    ann_id = annotation.get("id")
    where = f"task {task_id}, annotation {ann_id}"
    for key in ("id", "result", "completed_by", "updated_at"):
        if key not in annotation:
            raise DataError(f"{where}: field '{key}' missing")
    example, chain = validate_task_data(task.get("data"), f"task {task_id}")
    fields = result_fields(annotation["result"], where)

    flags: list[str] = []
    types: list[str] = []
    for choice in fields.get(lc.ERROR_TYPES, []):
        if choice == lc.NO_ERROR:
            continue
        if choice not in lc.CODE_BY_CHOICE:
            raise DataError(f"{where}, field '{lc.ERROR_TYPES}': unknown choice {choice!r}")
        types.append(lc.CODE_BY_CHOICE[choice])
    if lc.NO_ERROR in fields.get(lc.ERROR_TYPES, []) and types:
        flags.append(NONE_WITH_TYPES)

    steps: list[int] = []
    for choice in fields.get(lc.ERROR_STEPS, []):
        n = lc.step_number(choice)
        if n is None or not 1 <= n <= len(chain.steps):
            raise DataError(f"{where}, field '{lc.ERROR_STEPS}': unknown choice {choice!r}")
        steps.append(n)

    text = fields.get(lc.CORRECTION, "")
    answer, corr_steps, _ = parse_chain(text)
    reasons = {code: fields[tag].strip() for code, tag in lc.REASONS.items()
               if fields.get(tag, "").strip()}
    subquestions = [line.strip() for line in fields.get(lc.SUBQUESTIONS, "").splitlines()
                    if line.strip()]
    user = annotation["completed_by"]
    simulated = (fields.get(lc.ORIGIN, "").strip() == lc.SIMULATED_MARK
                 or (isinstance(user, int) and user in simulator_ids))
    project = annotation.get("project", task.get("project"))
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
        time=str(annotation["updated_at"]),
        flags=flags,
        raw={"project": project, "task": task_id, "annotation": ann_id,
             "result": annotation["result"]},
    )
    return FeedbackItem(example=example, chain=chain, feedback=feedback)


def convert_export(
    tasks: Iterable[Mapping[str, Any]],
    users: Mapping[int, str],
    simulator_ids: frozenset[int] = frozenset(),
) -> list[FeedbackItem]:
    """All submitted (not cancelled) annotations of a full JSON export, in export order."""
    out: list[FeedbackItem] = []
    for task in tasks:
        if not isinstance(task, Mapping):
            raise DataError("export: a task is not an object")
        annotations = task.get("annotations", [])
        if not isinstance(annotations, list):
            raise DataError(f"task {task.get('id')}: field 'annotations' must be a list")
        for annotation in annotations:
            if not isinstance(annotation, Mapping):
                raise DataError(f"task {task.get('id')}: an annotation is not an object")
            if annotation.get("was_cancelled"):
                continue
            out.append(feedback_from_annotation(annotation, task, users, simulator_ids))
    return out
