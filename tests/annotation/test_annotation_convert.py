"""Converter: a real five-task export -> FeedbackItems, and strict errors on malformed input."""

from __future__ import annotations

import copy
import random

import pytest

from annotation import labeling_config as lc
from annotation.convert import NONE_WITH_TYPES, convert_export, feedback_id
from feedback_data.errors import DataError
from feedback_data.records.consistency import is_inconsistent
from feedback_data.records.schema import ERROR_CODES
from feedback_data.text.chain_format import parse_chain


def _users(asset: dict) -> dict[int, str]:
    return {int(k): v for k, v in asset["users"].items()}


def _by_annotation(items):
    return {item.feedback.raw["annotation"]: item for item in items}


def _result_of(asset: dict, ann_id: int) -> dict:
    for task in asset["tasks"]:
        for ann in task["annotations"]:
            if ann["id"] == ann_id:
                return {r["from_name"]: r["value"] for r in ann["result"]}
    raise KeyError(ann_id)


def test_every_submitted_annotation_becomes_one_record(export_asset):
    items = convert_export(export_asset["tasks"], _users(export_asset))
    submitted = [a for t in export_asset["tasks"] for a in t["annotations"]
                 if not a["was_cancelled"]]
    cancelled = [a for t in export_asset["tasks"] for a in t["annotations"] if a["was_cancelled"]]
    assert cancelled, "the asset must hold a skipped annotation"
    assert sorted(i.feedback.raw["annotation"] for i in items) == sorted(a["id"] for a in submitted)
    users = _users(export_asset)
    for ann in submitted:
        item = _by_annotation(items)[ann["id"]]
        assert item.feedback.annotator == users[ann["completed_by"]]
        assert item.feedback.source == "human"
        assert item.feedback.time == ann["updated_at"]
        assert item.feedback.id == feedback_id(ann["project"], ann["id"])
        assert item.chain.id == item.feedback.chain_id


def test_fields_match_what_was_submitted(export_asset):
    items = convert_export(export_asset["tasks"], _users(export_asset))
    for ann_id, item in _by_annotation(items).items():
        res = _result_of(export_asset, ann_id)
        fb = item.feedback
        text = "\n".join(res.get(lc.CORRECTION, {}).get("text", []))
        assert fb.correction.text == text
        assert (fb.correction.answer, fb.correction.steps) == parse_chain(text)[:2]
        ticked = res.get(lc.ERROR_TYPES, {}).get("choices", [])
        assert fb.error_types == [code for code in ERROR_CODES
                                  if lc.ERROR_CHOICES[ERROR_CODES.index(code)] in ticked]
        steps = res.get(lc.ERROR_STEPS, {}).get("choices", [])
        assert fb.error_steps == sorted(lc.step_number(s) for s in steps)
        for code, tag in lc.REASONS.items():
            assert fb.reasons.get(code, "") == "\n".join(res.get(tag, {}).get("text", [])).strip()
        subq = "\n".join(res.get(lc.SUBQUESTIONS, {}).get("text", []))
        assert fb.subquestions == [s for s in subq.splitlines() if s.strip()]


def test_multiline_text_and_empty_textarea(export_asset):
    items = _by_annotation(convert_export(export_asset["tasks"], _users(export_asset)))
    multi = [i for i in items.values() if "\n" in i.feedback.correction.text]
    assert multi and len(multi[0].feedback.subquestions) == 2
    emptied = [i for i in items.values() if i.feedback.correction.text == ""]
    assert len(emptied) == 1 and is_inconsistent(emptied[0])


def test_none_with_an_error_type_is_flagged_not_guessed(export_asset):
    items = convert_export(export_asset["tasks"], _users(export_asset))
    flagged = [i for i in items if NONE_WITH_TYPES in i.feedback.flags]
    assert len(flagged) == 1
    assert flagged[0].feedback.error_types == ["LI"]
    assert is_inconsistent(flagged[0])
    assert all(NONE_WITH_TYPES not in i.feedback.flags for i in items if i is not flagged[0])


def test_result_order_does_not_matter(export_asset):
    shuffled = copy.deepcopy(export_asset)
    rng = random.Random(0)
    for task in shuffled["tasks"]:
        for ann in task["annotations"]:
            rng.shuffle(ann["result"])
    def dumps(items):
        return [i.model_dump(exclude={"feedback": {"raw"}}) for i in items]

    assert dumps(convert_export(shuffled["tasks"], _users(shuffled))) == \
        dumps(convert_export(export_asset["tasks"], _users(export_asset)))


def test_simulated_marker_and_unknown_user(export_asset):
    asset = copy.deepcopy(export_asset)
    ann = asset["tasks"][0]["annotations"][0]
    ann["result"].append(lc.result_item(lc.ORIGIN, lc.SIMULATED_MARK))
    items = _by_annotation(convert_export(asset["tasks"], {}))
    assert items[ann["id"]].feedback.source == "simulated"
    assert items[ann["id"]].feedback.annotator == f"ls-user:{ann['completed_by']}"
    others = [i for k, i in items.items() if k != ann["id"]]
    assert {i.feedback.source for i in others} == {"human"}


def _first_submitted(asset: dict) -> tuple[dict, dict]:
    for task in asset["tasks"]:
        for ann in task["annotations"]:
            if not ann["was_cancelled"] and len(ann["result"]) >= 3:
                return task, ann
    raise AssertionError("no annotation with three fields")


def _break_unknown_from_name(ann):
    ann["result"][0]["from_name"] = "mystery"
    return "mystery"


def _break_unknown_choice(ann):
    item = next(r for r in ann["result"] if r["from_name"] == lc.ERROR_TYPES)
    item["value"]["choices"] = ["Spelling"]
    return lc.ERROR_TYPES


def _break_unknown_step(ann):
    item = next(r for r in ann["result"] if r["from_name"] == lc.ERROR_STEPS)
    item["value"]["choices"] = ["Step 99"]
    return lc.ERROR_STEPS


def _break_text_type(ann):
    item = next(r for r in ann["result"] if r["from_name"] == lc.CORRECTION)
    item["value"]["text"] = "not a list"
    return lc.CORRECTION


def _break_missing_completed_by(ann):
    del ann["completed_by"]
    return "completed_by"


def _break_missing_updated_at(ann):
    del ann["updated_at"]
    return "updated_at"


@pytest.mark.parametrize("breaker", [_break_unknown_from_name, _break_unknown_choice,
                                     _break_unknown_step, _break_text_type,
                                     _break_missing_completed_by, _break_missing_updated_at])
def test_malformed_export_names_task_annotation_and_field(export_asset, breaker):
    asset = copy.deepcopy(export_asset)
    task, ann = _first_submitted(asset)
    field = breaker(ann)
    with pytest.raises(DataError) as err:
        convert_export(asset["tasks"], _users(asset))
    msg = str(err.value)
    assert f"task {task['id']}" in msg and f"annotation {ann['id']}" in msg and field in msg


def test_task_data_missing_a_key_names_task_and_key(export_asset):
    asset = copy.deepcopy(export_asset)
    task, _ann = _first_submitted(asset)
    del task["data"]["rhf"]
    with pytest.raises(DataError, match=rf"task {task['id']}.*'rhf'"):
        convert_export(asset["tasks"], _users(asset))
