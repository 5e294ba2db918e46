"""The model service under bad input: 422 for out-of-range requests, one line for a model
that is not there, no open endpoints on the network, a model_version tied to the weights.

No real data: a scripted stand-in model, or weight files written here.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fastapi import FastAPI
from fastapi.testclient import TestClient
from safetensors.torch import save_file
from typer.testing import CliRunner

from annotation import labeling_config as lc
from inference.api import make_model_router, model_version
from inference.toy_models import ScriptedGenerator
from pipeline.serve_cli import is_loopback
from rhf_cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stand_in_client() -> TestClient:
    api = FastAPI()
    api.include_router(make_model_router(ScriptedGenerator(
        lambda _p, _j: "The answer is yes because a.",
        score=lambda _p, c: 0.0 if c == "no error" else -5.0)))
    return TestClient(api)


@pytest.mark.parametrize("seed", [2**80, 2**32, -1], ids=["2**80", "2**32", "-1"])
def test_vote_seed_out_of_range_is_422_naming_seed(stand_in_client, seed):
    r = stand_in_client.post("/v1/vote", json={"task": "strategyqa", "question": "Q?", "n": 2,
                                                  "seed": seed})
    assert r.status_code == 422
    assert [d["loc"] for d in r.json()["detail"]] == [["body", "seed"]]


@pytest.mark.parametrize("tasks, status, detail", [
    ([{"id": 1, "data": ["not", "an", "object"]}], 422,
     "task 0: 'data' must be an object, got list"),
    ([{"id": 1, "data": {}}], 422,
     f"task 0: data needs '{lc.DATA_QUESTION}' and '{lc.DATA_MODEL_OUTPUT}'"),
    (["not a task"], 422, None),
    ([{"data": {}}] * 101, 422, None),
])
def test_predict_with_malformed_tasks_is_422(stand_in_client, tasks, status, detail):
    r = stand_in_client.post("/predict", json={"tasks": tasks})
    assert r.status_code == status
    if detail is not None:
        assert r.json()["detail"] == detail


def test_vote_with_the_largest_seed_answers(stand_in_client):
    r = stand_in_client.post("/v1/vote", json={"task": "strategyqa", "question": "Q?", "n": 2,
                                                  "seed": 2**32 - 1})
    assert r.status_code == 200 and r.json()["answer"] == "yes"


class _Folder:
    """A backend as model_version sees it: a name and the folder it was loaded from."""

    def __init__(self, path: Path) -> None:
        self.name, self.info = str(path), {"path": str(path)}


def _weights(folder: Path, value: float) -> Path:
    folder.mkdir(parents=True)
    save_file({"w": torch.full((4, 4), value)}, folder / "model.safetensors")
    return folder


def test_model_version_follows_the_weights(tmp_path):
    a = _weights(tmp_path / "a" / "final", 1.0)
    same = _weights(tmp_path / "b" / "final", 1.0)
    other = _weights(tmp_path / "c" / "final", 2.0)
    file_sha = hashlib.sha256((a / "model.safetensors").read_bytes()).hexdigest()
    by_hand = hashlib.sha256(f"model.safetensors:{file_sha}\n".encode()).hexdigest()[:12]
    assert model_version(_Folder(a)) == f"final@{by_hand}"
    assert model_version(_Folder(same)) == f"final@{by_hand}"  # same weights, same version
    assert model_version(_Folder(other)) != f"final@{by_hand}"


def test_model_version_of_loaded_weights_without_files_changes_with_them():
    class Loaded:
        name, info = "google/some-model", {"path": "google/some-model"}
        model = torch.nn.Linear(3, 2)

    first = model_version(Loaded())
    with torch.no_grad():
        Loaded.model.bias[0] += 1e-3
    assert first.startswith("some-model@") and model_version(Loaded()) != first


def test_a_model_with_nan_weights_is_not_served():
    from inference.backends import ModelLoadError

    class Diverged:
        name, info = "runs/x/final", {"path": "runs/x/final"}
        model = torch.nn.Linear(3, 2)

    with torch.no_grad():
        Diverged.model.weight[1, 2] = float("nan")
    with pytest.raises(ModelLoadError) as info:
        make_model_router(Diverged())
    assert str(info.value) == ("runs/x/final: weight weight holds NaN or inf (a diverged "
                               "run?); refusing to serve it")


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("example.org", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


@pytest.fixture
def no_server(monkeypatch):
    """uvicorn.run records its call instead of serving."""
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    return calls


def test_serve_refuses_a_public_address_without_a_token(no_server, monkeypatch):
    monkeypatch.delenv("RHF_API_TOKEN", raising=False)
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: refusing to bind 0.0.0.0 without RHF_API_TOKEN: every model endpoint would be "
        "open to the network; set RHF_API_TOKEN or bind 127.0.0.1")
    assert no_server == []


def test_serve_warns_on_loopback_without_a_token(no_server, monkeypatch):
    monkeypatch.delenv("RHF_API_TOKEN", raising=False)
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == ("warning: RHF_API_TOKEN is not set: the model endpoints "
                                     "accept any client that can reach 127.0.0.1:8765")
    assert no_server == [{"host": "127.0.0.1", "port": 8765, "log_level": "info"}]


def test_serve_binds_a_public_address_with_a_token(no_server, monkeypatch):
    monkeypatch.setenv("RHF_API_TOKEN", "s3cret")
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "9000"])
    assert result.exit_code == 0 and result.output == ""
    assert no_server == [{"host": "0.0.0.0", "port": 9000, "log_level": "info"}]


@pytest.mark.parametrize("spec, message", [
    ("./no/such/model", "error: ./no/such/model: no such model folder"),
    ("/no/such/model", "error: /no/such/model: no such model folder"),
])
def test_serve_with_a_model_that_is_not_there_is_one_line(no_server, monkeypatch, spec,
                                                          message):
    monkeypatch.setenv("RHF_API_TOKEN", "s3cret")
    result = runner.invoke(app, ["serve", "--model", spec])
    assert result.exit_code == 1
    assert result.output.strip() == message
    assert no_server == []


def test_serve_with_an_unknown_hub_id_offline_is_one_line(tmp_path):
    # A real process: the hub client reads HF_HUB_OFFLINE when it is imported.
    env = {**os.environ, "RHF_API_TOKEN": "s3cret", "HF_HUB_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-m", "rhf_cli", "serve", "--model",
                           "no-such-org/no-such-model"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: cannot load model 'no-such-org/no-such-model': ")


def test_serve_with_a_file_as_model_is_one_line(no_server, monkeypatch, tmp_path):
    monkeypatch.setenv("RHF_API_TOKEN", "s3cret")
    f = tmp_path / "weights.bin"
    f.write_bytes(b"x")
    result = runner.invoke(app, ["serve", "--model", str(f)])
    assert result.exit_code == 1
    assert result.output.strip() == (f"error: {f}: expected a model folder, a RUN_DIR or a hub "
                                     f"id, got a file")
