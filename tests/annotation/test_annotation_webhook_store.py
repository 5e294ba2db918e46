"""Issue 11 (webhook store): a damaged store is repaired on open and capture goes on; an index
makes the duplicate check independent of the store's size; hostile deliveries get 4xx, never
500, and nothing is written for them."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from annotation import labeling_config as lc
from annotation.campaign import SECRET_HEADER
from annotation.tasks import build_tasks
from annotation.webhook import MAX_BODY_BYTES, MAX_DEPTH, WEBHOOK_PATH
from feedback_data.records import store as store_module
from feedback_data.records.store import FeedbackStore
from pipeline.serve import create_app

SECRET = "s3cret-for-tests"
HEADERS = {SECRET_HEADER: SECRET}


def _payload(chains, examples, ann_id=21, updated="2024-05-01T10:00:00Z", correction=None):
    task = {"id": 11, "project": 2, "data": build_tasks(chains[:1], examples)[0]}
    annotation = {"id": ann_id, "project": 2, "completed_by": 1, "updated_at": updated,
                  "was_cancelled": False,
                  "result": [lc.result_item(lc.ERROR_TYPES, ["Factual Error"]),
                             lc.result_item(lc.CORRECTION, correction or chains[0].text)]}
    return {"action": "ANNOTATION_CREATED", "annotation": annotation, "task": task}


@pytest.fixture(autouse=True)
def _no_label_studio(monkeypatch):
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)


def _client(store):
    return TestClient(create_app(feedback_store=store, webhook_secret=SECRET))


def _fill(store, chains, examples, n):
    client = _client(store)
    for k in range(1, n + 1):
        res = client.post(WEBHOOK_PATH, json=_payload(chains, examples, ann_id=k), headers=HEADERS)
        assert res.status_code == 200 and res.json()["stored"] == 1


def test_torn_last_line_is_truncated_logged_and_capture_goes_on(tmp_path, chains, examples,
                                                                caplog):
    store = tmp_path / "store.jsonl"
    _fill(store, chains, examples, 3)
    whole = store.read_bytes()
    torn = whole.splitlines(keepends=True)[-1][:57]
    store.write_bytes(whole + torn)
    with caplog.at_level(logging.WARNING, logger=store_module.__name__):
        client = _client(store)
    assert [r.getMessage() for r in caplog.records] == [
        f"feedback store {store}: torn last line (57 bytes, line 4) truncated"]
    assert store.read_bytes() == whole
    res = client.post(WEBHOOK_PATH, json=_payload(chains, examples, ann_id=4), headers=HEADERS)
    assert res.status_code == 200 and res.json()["stored"] == 1
    assert [i.feedback.raw["annotation"] for i in FeedbackStore(store).read()] == [1, 2, 3, 4]


def test_a_bad_line_inside_is_quarantined_and_capture_goes_on(tmp_path, chains, examples, caplog):
    store = tmp_path / "store.jsonl"
    _fill(store, chains, examples, 3)
    lines = store.read_bytes().splitlines(keepends=True)
    junk = b'{"not": "a record"}\n'
    store.write_bytes(lines[0] + b"garbage{\n" + lines[1] + junk + lines[2])
    with caplog.at_level(logging.ERROR, logger=store_module.__name__):
        client = _client(store)
    quarantine = tmp_path / "store.jsonl.quarantine"
    assert [r.getMessage() for r in caplog.records] == [
        f"feedback store {store}: line 2 is not a valid record (invalid JSON); moved to "
        f"{quarantine}",
        f"feedback store {store}: line 4 is not a valid record (field 'example': Field "
        f"required (and 3 more)); moved to {quarantine}"]
    assert quarantine.read_bytes() == b"garbage{\n" + junk  # kept, not deleted
    assert store.read_bytes() == b"".join(lines)
    res = client.post(WEBHOOK_PATH, json=_payload(chains, examples, ann_id=4), headers=HEADERS)
    assert res.status_code == 200 and res.json()["stored"] == 1
    dup = client.post(WEBHOOK_PATH, json=_payload(chains, examples, ann_id=2), headers=HEADERS)
    assert dup.json()["duplicate"] is True
    assert len(FeedbackStore(store).read()) == 4


def test_a_whole_last_record_without_newline_is_kept(tmp_path, chains, examples):
    store = tmp_path / "store.jsonl"
    _fill(store, chains, examples, 2)
    whole = store.read_bytes()
    store.write_bytes(whole[:-1])
    assert len(FeedbackStore.open_for_writing(store)) == 2 and store.read_bytes() == whole


def test_duplicate_check_never_rereads_the_store(tmp_path, chains, examples, monkeypatch):
    store = tmp_path / "store.jsonl"
    _fill(store, chains, examples, 5)
    client = _client(store)

    def reread(*_a, **_k):
        raise AssertionError("the store was re-read")

    monkeypatch.setattr(store_module, "_problem", reread)
    monkeypatch.setattr(FeedbackStore, "read", reread)
    again = client.post(WEBHOOK_PATH, json=_payload(chains, examples, ann_id=3), headers=HEADERS)
    assert again.json()["duplicate"] is True
    new = client.post(WEBHOOK_PATH, json=_payload(chains, examples, ann_id=6), headers=HEADERS)
    assert new.json()["stored"] == 1


def test_body_size_limit_and_text_stored_once(tmp_path, chains, examples):
    store = tmp_path / "store.jsonl"
    client = _client(store)
    big = "x" * (MAX_BODY_BYTES + 1)
    res = client.post(WEBHOOK_PATH, json=_payload(chains, examples, correction=big),
                      headers=HEADERS)
    assert res.status_code == 413 and res.json()["detail"] == (
        f"body over {MAX_BODY_BYTES} bytes (the server's --max-body-bytes)")
    assert not store.exists()
    text = "The answer is no because " + "y" * 300_000 + "."
    res = client.post(WEBHOOK_PATH, json=_payload(chains, examples, correction=text),
                      headers=HEADERS)
    assert res.status_code == 200
    # The submitted text is stored once (no copy in feedback.raw); the schema's parsed
    # correction steps hold its explanation part, so the line is under twice the text.
    assert store.read_text().count(text) == 1
    (item,) = FeedbackStore(store).read()
    assert item.feedback.correction.text == text and text[25:] not in json.dumps(item.feedback.raw)
    assert len(store.read_bytes()) < 2 * len(text) + 20_000


@pytest.mark.parametrize("bad_id", ["abc", -5, 0, 10**30, None, [1], 1.5, True, {"id": 1}])
def test_annotation_id_must_be_a_positive_integer(tmp_path, chains, examples, bad_id):
    store = tmp_path / "store.jsonl"
    body = _payload(chains, examples)
    body["annotation"]["id"] = bad_id
    res = _client(store).post(WEBHOOK_PATH, json=body, headers=HEADERS)
    assert res.status_code == 422
    assert res.json()["detail"] == f"annotation id must be a positive integer, got {bad_id!r}"
    assert not store.exists()


def _mutations(chains, examples):
    def nested_junk(body):
        body["annotation"]["result"] = [{"from_name": {"a": [1, {"b": None}]}, "value": [[]]}]

    def completed_by_list(body):
        body["annotation"]["completed_by"] = [1, 2]

    def junk_task_data(body):
        body["task"]["data"] = {**body["task"]["data"], lc.DATA_STEP_CHOICES: 7}

    def junk_value(body):
        body["annotation"]["result"][0]["value"] = {"choices": [{"x": 1}]}

    def updated_at_object(body):
        body["annotation"]["updated_at"] = {"when": "now"}

    def project_string(body):
        body["annotation"]["project"] = "p"

    return {
        "nested_junk": (nested_junk, "task 11, annotation 21: result item's 'from_name' must be "
                                     "a string"),
        "completed_by_list": (completed_by_list, "task 11, annotation 21: field 'completed_by' "
                                                 "must be a user id or a user object"),
        "junk_task_data": (junk_task_data, "task 11: task data 'step_choices' does not match the "
                                           "steps"),
        "junk_value": (junk_value, "task 11, annotation 21, field 'error_types': value.choices "
                                   "must be a list of strings"),
        "updated_at_object": (updated_at_object, "task 11, annotation 21: field 'updated_at' "
                                                 "must be a string"),
        "project_string": (project_string, "task 11, annotation 21: project id must be a "
                                           "positive integer, got 'p'"),
    }


@pytest.mark.parametrize("name", ["nested_junk", "completed_by_list", "junk_task_data",
                                  "junk_value", "updated_at_object", "project_string"])
def test_junk_payloads_are_422_with_the_reason(tmp_path, chains, examples, name):
    store = tmp_path / "store.jsonl"
    mutate, detail = _mutations(chains, examples)[name]
    body = _payload(chains, examples)
    mutate(body)
    res = _client(store).post(WEBHOOK_PATH, json=body, headers=HEADERS)
    assert (res.status_code, res.json()["detail"]) == (422, detail)
    assert not store.exists()


def test_raw_bodies_that_break_parsers_are_4xx(tmp_path, chains, examples):
    store = tmp_path / "store.jsonl"
    client = _client(store)
    good = json.dumps(_payload(chains, examples))
    cases = {
        "nested lists": (b'{"action": "ANNOTATION_CREATED", "annotation": '
                         + b"[" * 100_000 + b"]" * 100_000 + b"}", 400,
                         "body is not JSON (or nested too deeply)"),
        "deep but parseable": (b'{"action": "ANNOTATION_CREATED", "annotation": '
                               + b"[" * 200 + b"]" * 200 + b"}", 422,
                               f"body nests deeper than {MAX_DEPTH} levels"),
        "lone surrogate": (good.replace(json.dumps(chains[0].text)[1:-1], "\\ud800").encode(),
                           422, "body holds text that is not valid Unicode (a lone surrogate)"),
        "NaN": (good.replace('"was_cancelled": false', '"was_cancelled": NaN').encode(), 422,
                "body holds NaN or Infinity, which JSON cannot carry"),
        "not utf-8": (b'{"action": "\xff"}', 400, "body is not JSON (or nested too deeply)"),
        "a list": (b"[1, 2]", 400, "body is not a JSON object"),
    }
    for name, (raw, status, detail) in cases.items():
        res = client.post(WEBHOOK_PATH, content=raw, headers={**HEADERS,
                                                               "content-type": "application/json"})
        assert (res.status_code, res.json()["detail"]) == (status, detail), name
    assert not store.exists()
