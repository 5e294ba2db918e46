"""`rhf serve --model` (a real process with the tiny T5) connected to a real Label Studio as the
project's ML backend: Label Studio fetches a prediction for every task, stamped with the
version the service reports. (The browser test shows pre-annotations to an annotator with a
scripted critic, whose output is known; the tiny model's output is random.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from annotation import labeling_config as lc
from annotation.campaign import connect_ml_backend, push_chains, setup_project
from annotation.server import free_port

pytestmark = pytest.mark.labelstudio


@pytest.fixture
def served_model(tmp_path):
    from training.model.tiny_model import build_tiny_t5

    model = build_tiny_t5(tmp_path / "tiny")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "RHF_API_TOKEN"}
    rhf = Path(sys.executable).with_name("rhf")
    proc = subprocess.Popen([str(rhf), "serve", "--port", str(port), "--model", str(model)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise AssertionError("rhf serve --model did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def test_rhf_serve_is_label_studios_ml_backend(ls_client, project_title, chains, examples,
                                               served_model):
    pid = setup_project(ls_client, project_title)
    push_chains(ls_client, pid, chains[:2], examples, progress=False)
    version = connect_ml_backend(ls_client, pid, served_model)
    assert version == httpx.post(f"{served_model}/setup", json={}).json()["model_version"]
    assert ls_client.request("GET", f"/api/projects/{pid}/")["model_version"] == version
    for task in ls_client.iter_tasks(pid):
        (pred,) = ls_client.task(task["id"])["predictions"]
        assert pred["model_version"] == version
        names = [r["from_name"] for r in pred["result"]]
        assert names in ([], [lc.ERROR_TYPES]) or names[:2] == [lc.ERROR_TYPES, lc.ERROR_STEPS]
    assert connect_ml_backend(ls_client, pid, served_model) == version  # idempotent
    assert len(ls_client.ml_backends(pid)) == 1
