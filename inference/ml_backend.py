"""Label Studio ML backend: the critic's pre-annotation of one task (pure; no model here).

The model service calls :func:`task_inputs` to read a task and :func:`prediction` to turn the
critic's output into a Label Studio prediction: the error types it detects and, when its
description names a step of the chain, that step as the first wrong one (the error-step choice
and that step's rating). Every prediction carries the model version, so a pulled annotation
can say which fields it kept from which model. Tag names come from feedback_data.
"""

from __future__ import annotations

from typing import Any

from feedback_data.records import labeling_tags as tags
from feedback_data.records.schema import ERROR_NAMES
from feedback_data.text.chain_format import parse_chain


class TaskError(ValueError):
    """A task the backend cannot read; the message names the task and the key."""


def task_inputs(task: Any, index: int, max_question: int, max_chain: int
                ) -> tuple[str, str, int]:
    """(question, chain text, number of steps) of a Label Studio task."""
    data = task.get("data") if isinstance(task, dict) else None
    if data is not None and not isinstance(data, dict):
        raise TaskError(f"task {index}: 'data' must be an object, got {type(data).__name__}")
    data = data or {}
    question, chain = data.get(tags.DATA_QUESTION), data.get(tags.DATA_MODEL_OUTPUT)
    if not isinstance(question, str) or not isinstance(chain, str) or not question or not chain:
        raise TaskError(f"task {index}: data needs '{tags.DATA_QUESTION}' and "
                        f"'{tags.DATA_MODEL_OUTPUT}'")
    if len(question) > max_question or len(chain) > max_chain:
        raise TaskError(f"task {index}: question over {max_question} or chain over "
                        f"{max_chain} characters")
    steps = data.get(tags.DATA_STEPS)
    n_steps = len(steps) if isinstance(steps, list) else len(parse_chain(chain)[1])
    return question, chain, n_steps


def task_name(task: Any) -> str | None:
    """The rhf task a Label Studio task's question belongs to, when rhf pushed it (its data
    carries the example under ``rhf``), else None.

    >>> task_name({"data": {"rhf": {"example": {"task": "strategyqa"}}}}), task_name({})
    ('strategyqa', None)
    """
    data = task.get("data") if isinstance(task, dict) else None
    pushed = data.get(tags.DATA_RHF) if isinstance(data, dict) else None
    example = pushed.get("example") if isinstance(pushed, dict) else None
    name = example.get("task") if isinstance(example, dict) else None
    return name if isinstance(name, str) else None


def prediction(codes: list[str] | None, description: str | None, n_steps: int,
               version: str, p_no_error: float | None = None) -> dict[str, Any]:
    """The prediction for one task; an unreadable critic output gives an empty result.

    ``p_no_error`` (the critic's P(no error) over all 16 error labels,
    feedback_data.text.critic_labels) sets Label Studio's ``score``: the probability of what is
    pre-filled (P(no error) when it says None, else 1 - P(no error)), so the tasks the
    critic is least sure of sort first."""
    if codes is None:
        return {"result": [], "model_version": version}
    extra = {} if p_no_error is None else {
        "score": round(p_no_error if not codes else 1.0 - p_no_error, 6)}
    choices = [ERROR_NAMES[c] for c in codes] or [tags.NO_ERROR]
    result = [tags.result_item(tags.ERROR_TYPES, choices)]
    step = tags.first_step_mentioned(description or "", n_steps) if codes else None
    if step is not None:
        result.append(tags.result_item(tags.ERROR_STEPS, [tags.step_choice(step)]))
        result.append(tags.result_item(tags.step_rating_tag(step - 1),
                                       tags.CHOICE_BY_RATING["wrong"]))
    return {"result": result, "model_version": version, **extra}
