"""A feedback store keeps every version of an edited annotation; training and the store's
readers use only the latest (issue 30, item 5): an annotation edited in Label Studio trains
once, with its latest content."""

from __future__ import annotations

import pytest

from feedback_data.errors import DataError
from feedback_data.records.jsonl import write_records
from feedback_data.records.store import FeedbackStore, latest_versions
from feedback_data.sources.paper_import import load_paper_feedback
from training.data.build import build_data
from training.data.multitask_pairs import multitask_pairs
from training.run.config import DataConfig


def _version(item, fid: str, time: str | None, **changes):
    fb = item.feedback.model_copy(update={"id": fid, "time": time, **changes})
    return item.model_copy(update={"feedback": fb})


@pytest.fixture(scope="module")
def records(real_data):
    """Five annotations with an error each, and an edit of the first and of the second."""
    paper = [i for i in load_paper_feedback("strategyqa", "train")
             if len(i.feedback.error_types) >= 2 and not i.feedback.flags][:5]
    first = [_version(item, f"ls/2/{k}", f"2024-05-01T10:00:0{k}Z")
             for k, item in enumerate(paper, start=1)]
    # Annotation 1 edited: the annotator now sees no error (no type, so no error-types pair
    # with the old types); its correction changed.
    edit = _version(paper[0], "ls/2/1", "2024-05-02T09:00:00Z", error_types=[], reasons={},
                    correction=paper[0].feedback.correction.model_copy(
                        update={"text": paper[0].chain.text}))
    return first, edit


def _train(path, log=None) -> list:
    cfg = DataConfig(tasks=[], extra_feedback=[str(path)], eval_fraction=0.0,
                     holdout_detection=False)
    return build_data(cfg, multitask_pairs, multitask_pairs, seed=0,
                      log=log or (lambda _m: None))


def test_an_edited_annotation_trains_once_with_its_latest_version(records, tmp_path):
    first, edit = records
    store_path = tmp_path / "store.jsonl"
    store = FeedbackStore.open_for_writing(store_path)
    for item in [*first, edit]:
        assert store.append(item)
    assert len(store) == 6 and len(FeedbackStore(store_path).read()) == 6  # nothing lost
    latest = [edit, *first[1:]]
    write_records(tmp_path / "latest.jsonl", latest)

    logs: list[str] = []
    data = _train(store_path, logs.append)
    alone = _train(tmp_path / "latest.jsonl")
    every_version = multitask_pairs([*first, edit])
    assert (len(data.train), len(alone.train), len(every_version)) == (15, 15, 18)
    assert sorted(p.target for p in data.train) == sorted(p.target for p in alone.train)
    assert data.counts["records_total"] == 5 and data.counts["records_superseded"] == 1
    assert "left out 1 older versions of edited annotations in data.extra_feedback " \
           "(each annotation's latest version is used)" in logs
    edited = sorted((p.term, p.target) for p in data.train if p.id == "ls/2/1")
    assert edited == sorted((p.term, p.target) for p in multitask_pairs([edit]))
    assert edited != sorted((p.term, p.target) for p in multitask_pairs([first[0]]))


def test_latest_is_by_time_then_line_order(records, tmp_path):
    first, edit = records
    older = _version(first[0], "ls/2/1", "2024-05-01T12:00:00+02:00")  # 10:00 UTC: older
    tie = _version(first[1], "ls/2/2", first[1].feedback.time, annotator="second delivery")
    untimed = _version(first[2], "ls/2/3", None)
    path = tmp_path / "store.jsonl"
    write_records(path, [*first, edit, older, tie, untimed])
    got = FeedbackStore(path).latest()
    assert [i.feedback.id for i in got] == [f"ls/2/{k}" for k in range(1, 6)]
    assert got[0] == edit and got[1] == tie and got[2] == first[2]
    assert len(FeedbackStore(path).read()) == 9


def test_a_time_that_is_not_iso_is_one_clear_error(records):
    first, _edit = records
    bad = _version(first[0], "ls/2/1", "yesterday")
    with pytest.raises(DataError) as err:
        latest_versions([first[0], bad])
    assert str(err.value) == ("feedback ls/2/1: time 'yesterday' is not an ISO 8601 time, so "
                              "its latest version cannot be told")


def test_the_annotate_reports_read_the_latest_version_of_a_store(records, tmp_path):
    """`rhf annotate agreement | adjudicate | quality FILE` read a store as training does."""
    from annotation.cli_support import load_items

    first, edit = records
    store_path = tmp_path / "store.jsonl"
    write_records(store_path, [*first, edit])
    items = load_items(store_path, None, None)
    assert [i.feedback.id for i in items] == [f"ls/2/{k}" for k in range(1, 6)]
    assert items[0].feedback.error_types == [] and items[0] == edit
