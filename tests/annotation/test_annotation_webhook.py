"""Webhook capture: secret checked, duplicates ignored, and live delivery from Label Studio
into `rhf serve`, surviving a restart of the receiver between deliveries."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from annotation import labeling_config as lc
from annotation.campaign import (
    SECRET_HEADER,
    pull_feedback,
    push_chains,
    reconcile,
    setup_project,
)
from annotation.server import free_port
from annotation.tasks import build_tasks
from annotation.webhook import WEBHOOK_PATH, UserDirectory
from feedback_data.records.store import FeedbackStore
from pipeline.serve import create_app

SECRET = "s3cret-for-tests"


def _payload(chains, examples, action="ANNOTATION_CREATED", updated="2024-05-01T10:00:00Z"):
    task = {"id": 11, "project": 2, "data": build_tasks(chains[:1], examples)[0]}
    annotation = {"id": 21, "project": 2, "completed_by": 1, "updated_at": updated,
                  "was_cancelled": False,
                  "result": [lc.result_item(lc.ERROR_TYPES, ["Factual Error"]),
                             lc.result_item(lc.CORRECTION, chains[0].text)]}
    return {"action": action, "annotation": annotation, "task": task, "project": {"id": 2}}


def _app(store: Path):
    return TestClient(create_app(feedback_store=store, webhook_secret=SECRET))


def test_secret_required(tmp_path, chains, examples):
    client = _app(tmp_path / "store.jsonl")
    body = _payload(chains, examples)
    assert client.post(WEBHOOK_PATH, json=body).status_code == 403
    assert client.post(WEBHOOK_PATH, json=body, headers={SECRET_HEADER: "nope"}).status_code == 403
    assert not (tmp_path / "store.jsonl").exists()
    unset = TestClient(create_app(feedback_store=tmp_path / "store.jsonl", webhook_secret=None))
    assert unset.post(WEBHOOK_PATH, json=body, headers={SECRET_HEADER: ""}).status_code == 403


def test_duplicates_ignored_across_restarts(tmp_path, chains, examples, monkeypatch):
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    store = tmp_path / "store.jsonl"
    headers = {SECRET_HEADER: SECRET}
    first = _app(store).post(WEBHOOK_PATH, json=_payload(chains, examples), headers=headers)
    assert first.status_code == 200 and first.json()["stored"] == 1
    again = _app(store).post(WEBHOOK_PATH, json=_payload(chains, examples), headers=headers)
    assert again.json() == {"stored": 0, "id": first.json()["id"], "duplicate": True}
    update = _payload(chains, examples, "ANNOTATION_UPDATED", "2024-05-01T11:00:00Z")
    assert _app(store).post(WEBHOOK_PATH, json=update, headers=headers).json()["stored"] == 1
    other = _payload(chains, examples, "TASKS_CREATED")
    assert _app(store).post(WEBHOOK_PATH, json=other, headers=headers).json()["stored"] == 0
    items = FeedbackStore(store).read()
    assert [i.feedback.time for i in items] == ["2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z"]
    assert items[0].feedback.annotator == "ls-user:1"  # no server to name users here


def test_malformed_payload_is_422(tmp_path, chains, examples):
    body = _payload(chains, examples)
    body["annotation"]["result"][0]["from_name"] = "mystery"
    res = _app(tmp_path / "s.jsonl").post(WEBHOOK_PATH, json=body, headers={SECRET_HEADER: SECRET})
    assert res.status_code == 422 and "mystery" in res.json()["detail"]


def test_user_directory_refreshes_on_unknown_id():
    calls = []

    def fetch():
        calls.append(1)
        return {1: "a@x", 2: "b@x"}

    users = UserDirectory(fetch)
    assert users.lookup(2)[2] == "b@x" and users.lookup(1)[1] == "a@x" and len(calls) == 1


class Serve:
    """`rhf serve` as a child process, as an operator would run it."""

    def __init__(self, store: Path, port: int, env: dict[str, str]) -> None:
        self.store, self.port, self.env = store, port, env
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        rhf = Path(sys.executable).with_name("rhf")
        self.proc = subprocess.Popen([str(rhf), "serve", "--port", str(self.port),
                                      "--feedback-store", str(self.store)], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("rhf serve did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(20)


def _wait_for(store: Path, n: int, timeout: float = 30) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = FeedbackStore(store).read()
        if len(items) >= n:
            return items
        time.sleep(0.2)
    raise AssertionError(f"store holds {len(FeedbackStore(store).read())} records, expected {n}")


@pytest.mark.labelstudio
def test_live_delivery_restart_and_reconcile(label_studio, ls_client, project_title, chains,
                                             examples, tmp_path):
    store = tmp_path / "store.jsonl"
    port = free_port()
    env = {**os.environ, "RHF_WEBHOOK_SECRET": SECRET, "LABEL_STUDIO_URL": label_studio.url,
           "LABEL_STUDIO_API_KEY": label_studio.token}
    serve = Serve(store, port, env)
    serve.start()
    try:
        pid = setup_project(ls_client, project_title,
                            webhook_url=f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
                            webhook_secret=SECRET)
        push_chains(ls_client, pid, chains[:2], examples, progress=False)
        task_ids = [t["id"] for t in ls_client.iter_tasks(pid)]
        result = [lc.result_item(lc.ERROR_TYPES, ["Factual Error"]),
                  lc.result_item(lc.CORRECTION, "The answer is no because edited.")]
        first = ls_client.create_annotation(task_ids[0], result)
        _wait_for(store, 1)
        serve.stop()
        serve.start()  # restart between deliveries
        ls_client.update_annotation(first["id"], [*result, lc.result_item(
            lc.REASONS["FE"], "Step 1.")])
        ls_client.create_annotation(task_ids[1], [lc.result_item(lc.ERROR_TYPES, ["None"])])
        items = _wait_for(store, 3)
        # A duplicate delivery of the first annotation's current version is ignored.
        exported = next(t for t in ls_client.export(pid) if t["id"] == task_ids[0])
        body = {"action": "ANNOTATION_UPDATED", "annotation": exported["annotations"][0],
                "task": exported}
        res = httpx.post(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", json=body,
                         headers={SECRET_HEADER: SECRET})
        assert res.status_code == 200 and res.json()["duplicate"] is True
        assert len(FeedbackStore(store).read()) == 3
        pulled = pull_feedback(ls_client, pid)
        assert reconcile(pulled, FeedbackStore(store).read()).clean
        assert {i.feedback.annotator for i in items} == {ls_client.whoami()["email"]}
        # Stop the receiver: the next change is missed, and the pull says so.
        serve.stop()
        ls_client.create_annotation(task_ids[1], result)
        report = reconcile(pull_feedback(ls_client, pid), FeedbackStore(store).read())
        assert len(report.missing_in_store) == 1 and not report.differing
    finally:
        serve.stop()
