"""Schema v2 on Feedback: step ratings, first wrong step, metadata; v1 records still load."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from feedback_data.records.hf_dataset import from_dataset, to_dataset
from feedback_data.records.schema import SCHEMA_VERSION, Feedback, Prefill


def test_version_1_record_loads_with_unknown_ratings(make_item):
    item = make_item("c1", "a@x", ["FE"], [1], "The answer is no because x.")
    old = json.loads(item.feedback.model_dump_json())
    for key in ("schema_version", "step_ratings", "lead_time", "created_at", "annotator_id",
                "prefill"):
        old.pop(key)
    fb = Feedback.model_validate(old)
    assert fb.schema_version == 1 and fb.step_ratings is None and fb.first_wrong_step is None


@pytest.mark.parametrize(("ratings", "first"), [
    (["correct", "neutral", "wrong", "wrong"], 2),
    (["wrong"], 0),
    (["correct", "unsure"], None),
    ([], None),
])
def test_first_wrong_step_is_the_first_wrong_index(make_item, ratings, first):
    fb = make_item("c1", "a@x", [], [], "x").feedback.model_copy(update={"step_ratings": ratings})
    assert fb.first_wrong_step == first


def test_unknown_rating_and_future_version_are_refused(make_item):
    data = json.loads(make_item("c1", "a@x", [], [], "x").feedback.model_dump_json())
    with pytest.raises(ValidationError, match="step_ratings"):
        Feedback.model_validate({**data, "step_ratings": ["great"]})
    with pytest.raises(ValidationError, match="schema_version"):
        Feedback.model_validate({**data, "schema_version": SCHEMA_VERSION + 1})


def test_hf_round_trip_keeps_v2_fields(make_item):
    item = make_item("c1", "a@x", ["FE"], [2], "The answer is no because x.")
    v2 = item.model_copy(update={"feedback": item.feedback.model_copy(update={
        "schema_version": 2, "step_ratings": ["correct", "wrong"], "lead_time": 12.5,
        "created_at": "2024-01-01T00:00:00Z", "annotator_id": 3,
        "prefill": Prefill(model_version="m@1", accepted=["error_types"], changed=[])})})
    assert from_dataset(to_dataset([v2, item])) == [v2, item]
