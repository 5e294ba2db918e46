"""Issue 11 (annotations): nothing passes the converter silently. Each case asserts the exact
error or the counted flag, and that nothing was written or lost."""

from __future__ import annotations

import copy
import json

import pytest
from typer.testing import CliRunner

from annotation import labeling_config as lc
from annotation.cli import app
from annotation.convert import (
    ERROR_WITHOUT_TYPE,
    NO_TYPE_TICKED,
    RATINGS_INCOMPLETE,
    convert,
)
from feedback_data.errors import DataError
from feedback_data.records.consistency import is_inconsistent
from feedback_data.records.jsonl import read_records
from feedback_data.records.schema import FeedbackItem


def _users(asset: dict) -> dict[int, str]:
    return {int(k): v for k, v in asset["users"].items()}


def _ann(asset: dict, ann_id: int) -> tuple[dict, dict]:
    for task in asset["tasks"]:
        for ann in task["annotations"]:
            if ann["id"] == ann_id:
                return task, ann
    raise KeyError(ann_id)


def _one(asset: dict, ann_id: int):
    items = {i.feedback.raw["annotation"]: i for i in convert(asset["tasks"], _users(asset)).items}
    return items[ann_id]


def _set_result(ann: dict, *items: dict) -> None:
    ann["result"] = list(items)


def test_description_and_step_without_a_type_is_flagged_and_kept_out(export_asset):
    asset = copy.deepcopy(export_asset)
    _task, ann = _ann(asset, 55)
    _set_result(ann, lc.result_item(lc.REASONS["FE"], "Step 1 is false."),
                lc.result_item(lc.ERROR_STEPS, ["Step 1"]),
                lc.result_item(lc.CORRECTION, "The answer is no because x."))
    fb = _one(asset, 55).feedback
    assert fb.error_types == [] and fb.reasons == {"FE": "Step 1 is false."}
    assert fb.error_steps == [1]
    assert fb.flags == [NO_TYPE_TICKED, ERROR_WITHOUT_TYPE]
    assert is_inconsistent(_one(asset, 55))
    summary = convert(asset["tasks"], _users(asset)).summary()
    assert f"{ERROR_WITHOUT_TYPE}: 1" in summary and f"{NO_TYPE_TICKED}: 1" in summary


def test_none_ticked_and_nothing_ticked_differ(export_asset):
    asset = copy.deepcopy(export_asset)
    _task, ann = _ann(asset, 56)  # "None" ticked in the asset
    none = _one(asset, 56).feedback
    ann["result"] = [r for r in ann["result"] if r["from_name"] != lc.ERROR_TYPES]
    nothing = _one(asset, 56).feedback
    assert none.error_types == nothing.error_types == []
    assert none.flags == [] and nothing.flags == [NO_TYPE_TICKED]
    assert not is_inconsistent(_one(export_asset, 56)) and is_inconsistent(_one(asset, 56))


def test_none_with_a_wrong_step_rating_is_flagged(export_asset, chains):
    asset = copy.deepcopy(export_asset)
    task, ann = _ann(asset, 56)
    n = len(task["data"]["rhf"]["chain"]["steps"])
    ann["result"] += lc.rating_items(["wrong"] + ["correct"] * (n - 1))
    fb = _one(asset, 56).feedback
    assert fb.step_ratings == ["wrong"] + ["correct"] * (n - 1) and fb.first_wrong_step == 0
    assert fb.flags == [ERROR_WITHOUT_TYPE]


def test_duplicate_annotation_ids(export_asset):
    within = copy.deepcopy(export_asset)
    task, ann = _ann(within, 54)
    task["annotations"].append(copy.deepcopy(ann))
    with pytest.raises(DataError) as err:
        convert(within["tasks"], _users(within))
    assert str(err.value) == "annotation id 54 appears twice in task 27"
    across = copy.deepcopy(export_asset)
    _t, ann56 = _ann(across, 56)
    ann56["id"] = 54
    with pytest.raises(DataError) as err:
        convert(across["tasks"], _users(across))
    assert str(err.value) == "annotation id 54 appears in tasks 27 and 28"


@pytest.mark.parametrize(("export", "said"), [
    ({}, "an empty object {}"),
    ({"tasks": []}, "an object"),
    ("tasks", "a str"),
])
def test_an_export_that_is_not_a_list(export, said):
    with pytest.raises(DataError) as err:
        convert(export, {})
    assert str(err.value) == \
        f"expected a list of tasks (Label Studio's JSON export), got {said}"


def test_empty_result_and_cancelled_are_skipped_and_counted(export_asset):
    asset = copy.deepcopy(export_asset)
    _task, ann = _ann(asset, 59)
    ann["result"] = []
    conv = convert(asset["tasks"], _users(asset))
    assert conv.cancelled == 1
    assert conv.empty == ["task 31, annotation 59"]
    assert 59 not in {i.feedback.raw["annotation"] for i in conv.items}
    assert len(conv.items) == 4
    assert conv.summary().startswith("4 annotations converted; 1 cancelled skipped; "
                                     "1 with an empty result skipped (task 31, annotation 59)")


def test_lead_time_created_at_and_annotator_id_are_kept(export_asset):
    asset = copy.deepcopy(export_asset)
    _task, ann = _ann(asset, 54)
    ann["lead_time"] = 42.5
    fb = _one(asset, 54).feedback
    assert (fb.lead_time, fb.created_at, fb.annotator_id) == \
        (42.5, ann["created_at"], ann["completed_by"])
    assert fb.schema_version == 2
    ann["lead_time"] = "soon"
    with pytest.raises(DataError) as err:
        convert(asset["tasks"], _users(asset))
    assert str(err.value) == \
        "task 27, annotation 54: field 'lead_time' must be a non-negative number of seconds"


def test_a_foreign_export_lists_its_unknown_fields(export_asset):
    foreign = [{"id": 1, "data": {"text": "great movie", "image": "x.png"},
                "annotations": [{"id": 2, "completed_by": 1, "updated_at": "t",
                                 "result": [{"from_name": "sentiment", "value": {}}]}]}]
    with pytest.raises(DataError) as err:
        convert(foreign, {})
    assert str(err.value) == (
        "task 1: not an rhf task (an export from a different labeling config?): unknown "
        "fields 'image', 'text'; missing 'chain_id', 'rhf', 'question', 'chain_display', "
        "'model_output', 'step_choices'")
    asset = copy.deepcopy(export_asset)
    _task, ann = _ann(asset, 54)
    ann["result"] += [{"from_name": "sentiment", "value": {}}, {"from_name": "bbox", "value": {}}]
    with pytest.raises(DataError) as err:
        convert(asset["tasks"], _users(asset))
    assert str(err.value) == ("task 27, annotation 54: unknown fields 'sentiment', 'bbox' (not "
                              "rhf's labeling config: an export from a different project?)")


def test_step_ratings_and_incomplete_ratings(export_asset):
    asset = copy.deepcopy(export_asset)
    task, ann = _ann(asset, 54)
    n = len(task["data"]["rhf"]["chain"]["steps"])
    assert n >= 2
    # Annotation 54 ticks "Step 2" as the step with an error: the ratings agree with it.
    ratings = ["unsure", "wrong"] + ["correct"] * (n - 2)
    ann["result"] += lc.rating_items(ratings)
    fb = _one(asset, 54).feedback
    assert fb.step_ratings == ratings and fb.flags == []
    ann["result"] = ann["result"][:-1]  # the last step left unrated
    fb = _one(asset, 54).feedback
    assert fb.step_ratings is None and fb.flags == [RATINGS_INCOMPLETE]
    ann["result"].append(lc.result_item(lc.step_rating_tag(n), "Wrong"))
    with pytest.raises(DataError, match=rf"field 'step_rating_{n}': the chain has {n} steps"):
        convert(asset["tasks"], _users(asset))


@pytest.mark.parametrize("ratings, ticked, disagree", [
    (["correct", "wrong"], ["Step 2"], False),
    (["wrong", "wrong"], ["Step 1", "Step 2"], False),
    (["wrong", "correct"], [], False),  # nothing ticked: the ratings alone say where
    (["correct", "wrong"], ["Step 1"], True),  # step 1 rated Correct but ticked as wrong
    (["wrong", "wrong"], ["Step 2"], True),  # step 1 rated Wrong, not ticked among ticks
    (["neutral", "correct"], ["Step 1"], True),
    (["unsure", "correct"], ["Step 1"], True),
], ids=["agree", "agree-two", "no-ticks", "correct-ticked", "wrong-unticked", "neutral-ticked",
        "unsure-ticked"])
def test_ratings_that_contradict_the_ticked_steps_are_flagged(export_asset, ratings, ticked,
                                                              disagree):
    from annotation.convert import RATINGS_DISAGREE
    from feedback_data.text.step_policy import first_wrong_step

    asset = copy.deepcopy(export_asset)
    _task, ann = _ann(asset, 54)
    ann["result"] = [r for r in ann["result"] if r["from_name"] != lc.ERROR_STEPS]
    ann["result"] += lc.rating_items(ratings)
    if ticked:
        ann["result"].append(lc.result_item(lc.ERROR_STEPS, ticked))
    item = _one(asset, 54)
    assert (RATINGS_DISAGREE in item.feedback.flags) is disagree
    first, why = first_wrong_step(item)
    if disagree:  # left out of step-level training and metrics, with the reason counted
        assert (first, why) == (None, RATINGS_DISAGREE)
    else:
        assert why is None and first == ratings.index("wrong")


def test_text_is_stored_once(export_asset):
    item = _one(export_asset, 54)
    raw_names = {r["from_name"] for r in item.feedback.raw["result"]}
    assert lc.CORRECTION not in raw_names and lc.ERROR_TYPES in raw_names
    assert item.feedback.correction.text not in json.dumps(item.feedback.raw)


def test_prefill_says_what_was_accepted_and_changed(export_asset):
    asset = copy.deepcopy(export_asset)
    task, ann = _ann(asset, 54)
    n = len(task["data"]["rhf"]["chain"]["steps"])
    model_ratings = ["correct"] * n
    task["predictions"] = [{"id": 7, "model_version": "final@abc", "result": [
        lc.result_item(lc.ERROR_TYPES, ["Factual Error", "Missing Facts"]),
        *lc.rating_items(model_ratings)]}]
    ann["parent_prediction"] = 7
    ann["result"] += lc.rating_items(["wrong"] + model_ratings[1:])
    prefill = _one(asset, 54).feedback.prefill
    assert prefill is not None and prefill.model_version == "final@abc"
    assert (prefill.accepted, prefill.changed) == (["error_types"], ["step_ratings"])
    assert _one(export_asset, 54).feedback.prefill is None


runner = CliRunner()


def test_pull_from_file_converts_and_counts(export_asset, tmp_path):
    path = tmp_path / "export.json"
    tasks = copy.deepcopy(export_asset["tasks"])
    tasks[0]["annotations"][0]["completed_by"] = {"id": 5, "email": "alice@example.org"}
    path.write_text(json.dumps(tasks), encoding="utf-8")
    out = tmp_path / "fb.jsonl"
    res = runner.invoke(app, ["pull", str(out), "--from-file", str(path)])
    assert res.exit_code == 0, res.output
    assert "5 annotations converted; 1 cancelled skipped" in res.output
    items = read_records(out, FeedbackItem)
    assert sorted(i.feedback.raw["annotation"] for i in items) == [54, 55, 56, 57, 59]
    # The UI's export inlines the user; a bare id is named by id (no users table in a file).
    by_ann = {i.feedback.raw["annotation"]: i.feedback for i in items}
    assert (by_ann[54].annotator, by_ann[54].annotator_id) == ("alice@example.org", 5)
    assert {by_ann[a].annotator for a in (55, 56, 57, 59)} == {"ls-user:1", "ls-user:5"}


@pytest.mark.parametrize(("content", "error"), [
    ("{}", "expected a list of tasks (Label Studio's JSON export), got an empty object {}"),
    ("[{\"id\": 1,", "invalid JSON at line 1 (Expecting property name enclosed in double "
                     "quotes)"),
    ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
])
def test_pull_from_a_bad_file_names_it_and_writes_nothing(tmp_path, content, error):
    path = tmp_path / "export.json"
    path.write_text(content, encoding="utf-8")
    out = tmp_path / "fb.jsonl"
    res = runner.invoke(app, ["pull", str(out), "--from-file", str(path)])
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1] == f"error: {path}: {error}"
    assert not out.exists() and list(tmp_path.iterdir()) == [path]


def test_pull_from_a_file_with_a_bad_record_names_file_task_and_field(export_asset, tmp_path):
    asset = copy.deepcopy(export_asset)
    _task, ann = _ann(asset, 55)
    ann["result"][0]["from_name"] = "mystery"
    path = tmp_path / "export.json"
    path.write_text(json.dumps(asset["tasks"]), encoding="utf-8")
    out = tmp_path / "fb.jsonl"
    out.write_text("kept\n")
    res = runner.invoke(app, ["pull", str(out), "--from-file", str(path)])
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1] == (
        f"error: {path}: task 27, annotation 55: unknown fields 'mystery' (not rhf's labeling "
        "config: an export from a different project?)")
    assert out.read_text() == "kept\n"
