"""`rhf data export` under bad targets: one line, exit 1, the existing file or folder kept.

No real data: a private RHF_CACHE holding three small records built here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedback_data.records.jsonl import read_records, write_records
from feedback_data.records.schema import Chain, Correction, Example, Feedback, FeedbackItem
from rhf_cli import app
from tests.reliability.conftest import snapshot

runner = CliRunner()


def _item(i: int) -> FeedbackItem:
    example = Example(id=f"ex{i}", task="strategyqa", question=f"Q{i}?", answer="no")
    chain = Chain(id=f"c{i}", example_id=example.id, task="strategyqa", question=f"Q{i}?",
                  model="m", prompt_id="p", text="The answer is yes because a.", answer="yes",
                  steps=["a."], parsed=True)
    feedback = Feedback(id=f"f{i}", chain_id=chain.id, annotator="a", source="imported",
                        correction=Correction(text="The answer is no because b.", answer="no",
                                              steps=["b."]),
                        error_types=["FE"], reasons={"FE": "a is false"}, error_steps=[1])
    return FeedbackItem(example=example, chain=chain, feedback=feedback)


@pytest.fixture
def small_cache(tmp_path, monkeypatch) -> list[FeedbackItem]:
    from feedback_data.sources.paper_import import imported_path

    monkeypatch.setenv("RHF_CACHE", str(tmp_path / "cache"))
    items = [_item(i) for i in range(3)]
    write_records(imported_path("strategyqa", "train"), items)
    return items


def _export(*args: str):
    return runner.invoke(app, ["data", "export", *args])


def test_export_then_refuse_to_overwrite_without_force(small_cache, tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    result = _export(str(out))
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {out} already exists; pass --force to replace it"
    assert out.read_text() == "precious\n"
    result = _export(str(out), "--force")
    assert result.exit_code == 0, result.output
    assert read_records(out, FeedbackItem) == small_cache


def test_a_folder_as_a_jsonl_target_is_one_line(small_cache, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "keep.txt").write_text("x")
    before = snapshot(folder)
    for extra in ([], ["--force"]):
        result = _export(str(folder), *extra)
        assert result.exit_code == 1
        assert result.output.strip() == (f"error: {folder} is a folder; --format jsonl writes "
                                         f"a file")
        assert snapshot(folder) == before


def test_a_file_as_an_hf_target_is_one_line(small_cache, tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    result = _export(str(out), "--format", "hf", "--force")
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {out} is a file; --format hf writes a folder"
    assert out.read_text() == "precious\n"


def test_hf_export_replaces_a_folder_only_with_force(small_cache, tmp_path):
    from feedback_data.records.hf_dataset import load_items

    out = tmp_path / "ds"
    assert _export(str(out), "--format", "hf").exit_code == 0
    assert load_items(out) == small_cache
    before = snapshot(out)
    result = _export(str(out), "--format", "hf")
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {out} already exists; pass --force to replace it"
    assert snapshot(out) == before
    assert _export(str(out), "--format", "hf", "--force").exit_code == 0
    assert load_items(out) == small_cache
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "ds"]  # no leftovers


@pytest.mark.parametrize("args, message", [
    (["--format", "xml"], "error: --format must be one of jsonl, hf, sft, sft-critique, kto, "
                          "dpo, prm, processbench, not 'xml'"),
    (["--task", "chess"], "error: no feedback for --task chess --split train; one of "
                          "strategyqa/train, strategyqa/eval, sports_understanding/train"),
    (["--task", "sports_understanding", "--split", "eval"],
     "error: no feedback for --task sports_understanding --split eval; one of "
     "strategyqa/train, strategyqa/eval, sports_understanding/train"),
])
def test_bad_format_or_task_writes_nothing(small_cache, tmp_path, args, message):
    out = tmp_path / "new.jsonl"
    result = _export(str(out), *args)
    assert result.exit_code == 1 and result.output.strip() == message
    assert not out.exists()


def test_a_file_in_the_way_of_the_parent_folder_is_one_line(small_cache, tmp_path):
    blocker = tmp_path / "notadir"
    blocker.write_text("x")
    out = blocker / "out.jsonl"
    result = _export(str(out))
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {blocker} is a file, not a folder"
    assert blocker.read_text() == "x"


def test_export_before_any_data_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("RHF_CACHE", str(tmp_path / "empty"))
    out = tmp_path / "out.jsonl"
    result = _export(str(out))
    assert result.exit_code == 1
    expected = Path(tmp_path / "empty" / "imported" / "strategyqa" / "train.jsonl")
    assert result.output.strip() == f"error: {expected} not found: run `rhf data fetch` first"
    assert not out.exists()
