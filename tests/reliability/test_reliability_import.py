"""A Label Studio import that names every bad record (issue 29, items 6 and 7): an encoding
problem names the task, the annotation and the field; every bad annotation is listed, not
only the first; by default nothing is written; --keep-good writes the good ones and a
rejects file, and the counts add up.

The export is tests/assets/ls_export.json (five tasks, six annotations, one cancelled).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotation import labeling_config as lc
from annotation.cli import app
from annotation.convert import BadRecords, convert
from feedback_data.records.jsonl import read_records
from feedback_data.records.schema import FeedbackItem

ASSETS = Path(__file__).resolve().parents[1] / "assets"
runner = CliRunner()


@pytest.fixture
def export() -> list[dict]:
    return json.loads((ASSETS / "ls_export.json").read_text(encoding="utf-8"))["tasks"]


def _ann(tasks: list[dict], ann_id: int) -> dict:
    return next(a for t in tasks for a in t["annotations"] if a["id"] == ann_id)


def _item(ann: dict, name: str) -> dict:
    return next(r for r in ann["result"] if r["from_name"] == name)


def _break_two(tasks: list[dict]) -> None:
    """Annotation 55: a lone surrogate in its correction; 57: an unknown error type."""
    _item(_ann(tasks, 55), lc.CORRECTION)["value"]["text"] = ["The answer is yes \ud800."]
    _item(_ann(tasks, 57), lc.ERROR_TYPES)["value"]["choices"] = ["Mystery error"]


def test_a_lone_surrogate_in_a_correction_names_task_annotation_and_field(export):
    _item(_ann(export, 55), lc.CORRECTION)["value"]["text"] = ["The answer is \ud800 yes."]
    with pytest.raises(BadRecords) as err:
        convert(export, {})
    assert str(err.value) == ("task 27, annotation 55, field 'correction': text that is not "
                              "valid Unicode (a lone surrogate at character 14)")


def test_a_lone_surrogate_in_task_data_names_the_data_key(export):
    export[1]["data"][lc.DATA_QUESTION] = "Is \udfff it?"
    with pytest.raises(BadRecords) as err:
        convert(export, {})
    assert str(err.value) == (f"task 28, annotation 56, field 'data.{lc.DATA_QUESTION}': text "
                              f"that is not valid Unicode (a lone surrogate at character 3)")


def test_every_bad_annotation_is_named_not_only_the_first(export):
    _break_two(export)
    with pytest.raises(BadRecords) as err:
        convert(export, {})
    assert str(err.value).splitlines() == [
        "2 of 6 annotations are bad (nothing was written; --keep-good writes the good ones "
        "and lists these in a rejects file):",
        "  task 27, annotation 55, field 'correction': text that is not valid Unicode (a lone "
        "surrogate at character 18)",
        "  task 29, annotation 57, field 'error_types': unknown choice 'Mystery error'"]
    assert [(r.task, r.annotation, r.field) for r in err.value.rejected] == [
        (27, 55, "correction"), (29, 57, "error_types")]


def test_pull_is_all_or_nothing_by_default_naming_every_bad_record(export, tmp_path):
    _break_two(export)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    out = tmp_path / "fb.jsonl"
    res = runner.invoke(app, ["pull", str(out), "--from-file", str(path)])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        f"error: {path}: 2 of 6 annotations are bad (nothing was written; --keep-good writes "
        "the good ones and lists these in a rejects file):",
        "  task 27, annotation 55, field 'correction': text that is not valid Unicode (a lone "
        "surrogate at character 18)",
        "  task 29, annotation 57, field 'error_types': unknown choice 'Mystery error'"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.json"]


def test_keep_good_writes_the_good_and_lists_the_bad_and_the_counts_add_up(export, tmp_path):
    _break_two(export)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    out = tmp_path / "fb.jsonl"
    res = runner.invoke(app, ["pull", str(out), "--from-file", str(path), "--keep-good"])
    assert res.exit_code == 0, res.output
    rejects = tmp_path / "fb.rejects.jsonl"
    good = read_records(out, FeedbackItem)
    bad = [json.loads(line) for line in rejects.read_text(encoding="ascii").splitlines()]
    assert sorted(i.feedback.raw["annotation"] for i in good) == [54, 56, 59]
    assert [(b["task"], b["annotation"], b["field"]) for b in bad] == [
        (27, 55, "correction"), (29, 57, "error_types")]
    assert bad[0]["raw"] == _ann(export, 55)  # the annotation is kept, surrogate and all
    cancelled = 1
    assert len(good) + len(bad) + cancelled == sum(len(t["annotations"]) for t in export) == 6
    assert res.output.splitlines()[0] == (f"kept 3 good records of 6 annotations; listed 2 bad "
                                          f"ones in {rejects}")


def test_rejects_needs_keep_good(export, tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    res = runner.invoke(app, ["pull", str(tmp_path / "fb.jsonl"), "--from-file", str(path),
                              "--rejects", str(tmp_path / "r.jsonl")])
    assert (res.exit_code, res.output.strip()) == (1, "error: --rejects needs --keep-good")
