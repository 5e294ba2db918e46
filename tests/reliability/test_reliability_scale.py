"""Inference at scale under bad input: a device or dtype the machine cannot run, on every
command that loads a model, is one line before anything loads or is written; a malformed
request to each model endpoint is a 422 naming the field; bad batching numbers and a corrupt
run record are one line.

Which GPUs torch sees is monkeypatched, so the cases mean the same on any machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from inference import precision
from inference.toy_models import ScriptedGenerator
from pipeline.serve import create_app
from rhf_cli import app

ROOT = Path(__file__).resolve().parents[2]
BASE = str(ROOT / "models" / "tiny-base")
CHAINS = str(ROOT / "tests" / "assets" / "ls_chains.jsonl")
runner = CliRunner()


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def no_server(monkeypatch):
    import uvicorn

    calls: list = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    monkeypatch.setenv("RHF_API_TOKEN", "s3cret")
    return calls


def _commands(tmp: Path) -> dict[str, list[str]]:
    out = str(tmp / "out")
    return {
        "chains": ["chains", "generate", "--model", BASE, "--task", "strategyqa", "--out", out],
        "infer": ["infer", "--model", BASE, "--limit", "2", "--out", out],
        "eval": ["eval", "--model", BASE, "--base-model", BASE, "--refine-model", BASE,
                 "--out", out],
        "serve": ["serve", "--model", BASE],
        "annotate score": ["annotate", "score", CHAINS, "--model", BASE, "--out", out],
        "demo": ["demo", "--out", out],
    }


@pytest.mark.parametrize("command", ["chains", "infer", "eval", "serve", "annotate score",
                                     "demo"])
def test_device_cuda_without_a_gpu_is_one_line_and_writes_nothing(command, tmp_path, no_gpu,
                                                                  no_server):
    result = runner.invoke(app, [*_commands(tmp_path)[command], "--device", "cuda"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith("error: --device cuda: torch sees no CUDA GPU (torch ")
    assert lines[0].endswith("); use --device cpu or auto")
    assert list(tmp_path.iterdir()) == [] and no_server == []


def test_bfloat16_on_an_old_gpu_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda _d=None: (7, 5))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda _d=None: "Tesla T4")
    result = runner.invoke(app, [*_commands(tmp_path)["infer"], "--device", "cuda",
                                 "--dtype", "bfloat16"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: --dtype bfloat16: cuda:0 (Tesla T4, compute capability 7.5) cannot run "
        "bfloat16 natively (it needs compute capability 8.0); use --dtype float16 or float32")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["chains", "infer", "eval"])
def test_an_unknown_dtype_is_one_line(command, tmp_path):
    result = runner.invoke(app, [*_commands(tmp_path)[command], "--dtype", "fp8"])
    assert result.exit_code == 1
    assert result.output.strip() == ("error: --dtype 'fp8': expected one of auto, float32, "
                                     "bfloat16, float16")
    assert list(tmp_path.iterdir()) == []


def test_float16_a_cpu_build_lacks_is_one_line(tmp_path, monkeypatch):
    def lacking(dtype, device):
        raise RuntimeError("\"addmm_impl_cpu_\" not implemented for 'Half'")

    monkeypatch.setattr(precision, "_run_probe", lacking)
    result = runner.invoke(app, [*_commands(tmp_path)["chains"], "--device", "cpu",
                                 "--dtype", "float16"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: --dtype float16: cpu cannot run float16 with this torch (\"addmm_impl_cpu_\" "
        "not implemented for 'Half'); use --dtype float32")
    assert list(tmp_path.iterdir()) == []


def test_bad_batching_numbers_are_one_line(no_server):
    result = runner.invoke(app, ["serve", "--model", BASE, "--queue-size", "0"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: --max-batch-wait-ms, --max-batch-rows, --queue-size: need max_wait_ms >= 0, "
        "max_rows >= 1 and queue_size >= 1, got 5.0, 64, 0")
    assert no_server == []


def test_a_corrupt_run_record_fails_before_generating(tmp_path, real_data):
    out = tmp_path / "chains.jsonl"
    (tmp_path / "chains.run.json").write_text("{not json")
    result = runner.invoke(app, ["chains", "generate", "--model", BASE, "--task", "strategyqa",
                                 "--limit", "1", "--max-new-tokens", "4", "--out", str(out)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'chains.run.json'}: not a run record (expected JSON with a 'runs' "
        "list); move it away to start a new one")
    assert not out.exists()


# ---- malformed requests to each endpoint --------------------------------------------------

Q = {"task": "strategyqa", "question": "Q?"}
CHAIN = "The answer is yes because a."
VALID = {"/v1/answer": Q, "/v1/critique": Q | {"chain": CHAIN},
         "/v1/refine": Q | {"chain": CHAIN}, "/v1/vote": Q | {"n": 2}}


@pytest.fixture(scope="module")
def client() -> TestClient:
    gen = ScriptedGenerator(lambda _p, _j: "no error ; The answer is yes because a.",
                            score=lambda _p, c: 0.0 if c == "no error" else -5.0)
    return TestClient(create_app(model=gen, refine_model=gen, base_model=gen))


@pytest.mark.parametrize("path", [*VALID, "/predict"])
def test_a_body_that_is_not_json_is_422(client, path):
    r = client.post(path, content=b"{'question': ", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("path", list(VALID))
def test_each_endpoint_names_a_missing_unknown_or_made_up_field(client, path):
    body = VALID[path]
    assert client.post(path, json=body).status_code == 200
    r = client.post(path, json={k: v for k, v in body.items() if k != "task"})
    assert r.status_code == 422 and [d["loc"] for d in r.json()["detail"]] == [["body", "task"]]
    r = client.post(path, json=body | {"task": "chess"})
    assert r.status_code == 422 and r.json()["detail"][0]["msg"].startswith(
        "Value error, unknown task 'chess': known tasks are strategyqa, sports_understanding")
    r = client.post(path, json=body | {"answer": "yes"})  # no gold answer is taken
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "extra_forbidden"
    assert r.json()["detail"][0]["loc"] == ["body", "answer"]
    r = client.post(path, json=body | {"question": 5})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "question"]
    assert client.post(path, json=body).status_code == 200  # and the service still answers


def test_predict_with_tasks_that_are_not_a_list_is_422(client):
    r = client.post("/predict", json={"tasks": {"id": 1}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "tasks"]
    r = client.post("/predict", content=json.dumps([1, 2]),
                    headers={"content-type": "application/json"})
    assert r.status_code == 422
