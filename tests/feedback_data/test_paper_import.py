"""The importer maps every released record to the schema without loss."""

import json

import pytest

from feedback_data.errors import DataError
from feedback_data.records.jsonl import read_records, write_records
from feedback_data.records.schema import FeedbackItem
from feedback_data.sources.paper_import import (
    PAPER_SPLITS,
    import_file,
    imported_path,
    split_subquestions,
)
from feedback_data.text.chain_format import parse_chain

EXPECTED_COUNTS = {  # SOURCE.md of the release
    ("strategyqa", "train"): 1565, ("strategyqa", "eval"): 173,
    ("sports_understanding", "train"): 796,
}


@pytest.mark.parametrize("task,split", PAPER_SPLITS)
def test_every_record_maps_without_loss(raw_feedback_dir, task, split):
    path = raw_feedback_dir / task / f"{split}.jsonl"
    raws = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    items = import_file(path, task, split)
    assert len(items) == len(raws) == EXPECTED_COUNTS[(task, split)]
    for raw, item in zip(raws, items, strict=True):
        fb = item.feedback
        assert fb.raw == raw and fb.source == "imported"
        assert item.example.answer == ("yes" if raw["Original"]["answer"] else "no")
        # Generation = "Q: <question> <chain text>"
        assert raw["Generation"].strip().endswith(item.chain.text)
        assert item.chain.answer == parse_chain(item.chain.text)[0]
        assert fb.correction.text == raw["Correction"]
        expected_types = [] if raw["ErrorType"] == "None" else raw["ErrorType"]
        assert fb.error_types == expected_types
        for code in ("FE", "MF", "IR", "LI"):
            assert fb.reasons.get(code) == raw.get(f"{code}_reason")
        n_lines = sum(1 for ln in raw["Subquestions"].splitlines() if ln.strip())
        assert len(fb.subquestions) == n_lines
        assert not any(s.startswith(("Q)", "Q:")) for s in fb.subquestions)


def test_chains_parse_on_released_generations(raw_feedback_dir):
    items = import_file(raw_feedback_dir / "strategyqa/train.jsonl", "strategyqa", "train")
    assert all(i.chain.parsed for i in items)
    assert all(i.chain.steps for i in items)


def test_subquestion_prefixes():
    assert split_subquestions("Q) Who is A?\n\nQ: What is B?\nWhy C?") == [
        "Who is A?", "What is B?", "Why C?"]


def test_jsonl_round_trip_is_lossless_on_full_data(tmp_path, real_data):
    for task, split in PAPER_SPLITS:
        items = read_records(imported_path(task, split), FeedbackItem)
        out = tmp_path / f"{task}-{split}.jsonl"
        write_records(out, items)
        assert read_records(out, FeedbackItem) == items


def _write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines))


def test_malformed_line_names_file_line_and_field(tmp_path, raw_feedback_dir):
    good = (raw_feedback_dir / "strategyqa/train.jsonl").read_text().splitlines()[:2]
    bad = json.loads(good[1])
    del bad["Generation"]
    path = tmp_path / "bad.jsonl"
    _write_lines(path, [good[0], json.dumps(bad)])
    with pytest.raises(DataError, match=r"bad\.jsonl:2: missing field 'Generation'"):
        import_file(path, "strategyqa", "train")
    bad = json.loads(good[1])
    bad["ErrorType"] = ["XX"]
    _write_lines(path, [json.dumps(bad)])
    with pytest.raises(DataError, match=r"bad\.jsonl:1: field 'ErrorType': unknown error type"):
        import_file(path, "strategyqa", "train")
    _write_lines(path, [good[0], "{not json"])
    with pytest.raises(DataError, match=r"bad\.jsonl:2: invalid JSON"):
        import_file(path, "strategyqa", "train")


def test_malformed_record_file_names_field(tmp_path):
    path = tmp_path / "chains.jsonl"
    _write_lines(path, ['{"id": "x"}'])
    from feedback_data.records.schema import Chain

    with pytest.raises(DataError, match=r"chains\.jsonl:1: field 'example_id'"):
        read_records(path, Chain)


def test_failed_write_leaves_previous_file_whole(tmp_path):
    path = tmp_path / "out.jsonl"
    write_records(path, [{"a": 1}])

    def records():
        yield {"a": 2}
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_records(path, records())
    assert path.read_text() == '{"a": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
