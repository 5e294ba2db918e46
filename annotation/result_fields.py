"""A Label Studio result list read against rhf's labeling config: each field's value keyed on
``from_name``, the per-step ratings, and which pre-annotated fields the annotator kept.

Strict: a malformed item or a field unknown to the labeling config is a DataError naming the
task, the annotation and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from annotation import labeling_config as lc
from feedback_data.errors import DataError
from feedback_data.records.schema import Chain, Prefill

# The name Prefill gives the per-step rating fields (one field per step in the result).
STEP_RATINGS_FIELD = "step_ratings"


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
    """Key a result list on ``from_name``: text tags -> str, choice tags -> list[str].

    Unknown names are listed together: they mean an export from another labeling config.
    """
    if not isinstance(result, list):
        raise DataError(f"{where}: result must be a list")
    fields: dict[str, Any] = {}
    unknown: list[str] = []
    for item in result:
        if not isinstance(item, Mapping):
            raise DataError(f"{where}: result item is not an object")
        name = item.get("from_name")
        if not isinstance(name, str):
            raise DataError(f"{where}: result item's 'from_name' must be a string")
        at = f"{where}, field '{name}'"
        if name in fields:
            raise DataError(f"{at}: appears twice in the result")
        if name in lc.TEXT_TAGS:
            fields[name] = _text(item, at)
        elif name in lc.CHOICE_TAGS or lc.step_rating_index(name) is not None:
            fields[name] = _choices(item, at)
        else:
            unknown.append(name)
    if unknown:
        raise DataError(f"{where}: unknown fields {', '.join(map(repr, unknown))} (not rhf's "
                        "labeling config: an export from a different project?)")
    return fields


def step_ratings(fields: Mapping[str, Any], chain: Chain, where: str
                 ) -> tuple[list[str] | None, bool]:
    """(ratings, complete): None when no step was rated; incomplete ratings give (None, False)."""
    rated: dict[int, str] = {}
    for name, choices in fields.items():
        index = lc.step_rating_index(name)
        if index is None:
            continue
        at = f"{where}, field '{name}'"
        if index >= len(chain.steps):
            raise DataError(f"{at}: the chain has {len(chain.steps)} steps")
        if len(choices) != 1 or choices[0] not in lc.RATING_CHOICES:
            raise DataError(f"{at}: expected one of {', '.join(map(repr, lc.RATING_CHOICES))}, "
                            f"got {choices!r}")
        rated[index] = lc.RATING_CHOICES[choices[0]]
    if not rated:
        return None, True
    if len(rated) != len(chain.steps):
        return None, False
    return [rated[i] for i in range(len(chain.steps))], True


def _prediction(annotation: Mapping[str, Any], task: Mapping[str, Any]) -> Mapping | None:
    """The model prediction the annotation started from, if any."""
    parent = annotation.get("parent_prediction")
    predictions = task.get("predictions")
    if parent is not None and isinstance(predictions, list):
        for pred in predictions:
            if isinstance(pred, Mapping) and pred.get("id") == parent:
                return pred
    pred = annotation.get("prediction")
    if isinstance(pred, Mapping) and isinstance(pred.get("result"), list) and pred["result"]:
        return pred
    return None


def _field_of(name: str) -> str:
    return STEP_RATINGS_FIELD if lc.step_rating_index(name) is not None else name


def prefill_of(annotation: Mapping[str, Any], task: Mapping[str, Any],
               fields: Mapping[str, Any], where: str) -> Prefill | None:
    """Which pre-annotated fields the annotator kept (value unchanged) and which they changed."""
    pred = _prediction(annotation, task)
    if pred is None:
        return None
    predicted = result_fields(pred["result"], f"{where}, prediction")
    changed: set[str] = set()
    touched: set[str] = set()
    for name, value in predicted.items():
        touched.add(_field_of(name))
        if fields.get(name) != value:
            changed.add(_field_of(name))
    return Prefill(model_version=str(pred.get("model_version") or "unknown"),
                   accepted=sorted(touched - changed), changed=sorted(changed))
