"""The model endpoints through FastAPI's test client: auth, limits, each endpoint, /predict."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from inference.methods import CRITIQUE_TOKENS
from pipeline.serve import create_app


@pytest.fixture(scope="module")
def client(tiny_t5: Path) -> TestClient:
    return TestClient(create_app(model=str(tiny_t5)))


Q = {"question": "Do hamsters provide food for any animals?", "max_new_tokens": 8}
CHAIN = "The answer is yes because Hamsters are prey animals."


def test_endpoints(client: TestClient) -> None:
    r = client.post("/v1/answer", json=Q)
    assert r.status_code == 200 and set(r.json()) >= {"answer", "text", "model_version"}
    r = client.post("/v1/critique", json=Q | {"chain": CHAIN})
    assert r.status_code == 200 and set(r.json()) >= {"error_types", "description"}
    r = client.post("/v1/refine", json=Q | {"chain": CHAIN, "rounds": 2})
    body = r.json()
    assert r.status_code == 200 and 1 <= body["rounds"] <= 2 and body["stop"]
    r = client.post("/v1/vote", json=Q | {"n": 3})
    assert r.status_code == 200 and len(r.json()["samples"]) == 3
    assert client.get("/openapi.json").json()["paths"].keys() >= {
        "/v1/answer", "/v1/critique", "/v1/refine", "/v1/vote", "/predict"}


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/vote", Q | {"n": 65}, "n"),
    ("/v1/answer", Q | {"max_new_tokens": 10_000}, "max_new_tokens"),
    ("/v1/answer", {"question": "x" * 1001}, "question"),
    ("/v1/critique", {"question": "q"}, "chain"),
])
def test_limits_are_422_naming_the_field(client: TestClient, path: str, body: dict,
                                         field: str) -> None:
    r = client.post(path, json=body)
    assert r.status_code == 422
    assert field in [d["loc"][-1] for d in r.json()["detail"]]


def test_bearer_token(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RHF_API_TOKEN", "s3cret")
    assert client.post("/v1/answer", json=Q).status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert client.post("/v1/answer", json=Q, headers=bad).status_code == 401
    ok = {"Authorization": "Bearer s3cret"}
    assert client.post("/v1/answer", json=Q, headers=ok).status_code == 200
    assert client.get("/health").status_code == 200  # the app's own routes stay open


def test_label_studio_predict(client: TestClient, tiny_t5: Path) -> None:
    from feedback_data import labeling_config as lc

    task = {"id": 7, "data": {lc.DATA_QUESTION: Q["question"], lc.DATA_MODEL_OUTPUT: CHAIN}}
    r = client.post("/predict", json={"tasks": [task, task], "label_config": "<View/>"})
    assert r.status_code == 200
    results = r.json()["results"]
    version = client.post("/setup", json={}).json()["model_version"]
    assert len(results) == 2 and all(p["model_version"] == version for p in results)
    # What the model itself says about this chain, read the way /predict must read it.
    from feedback_data.instructions import error_types_prompt, parse_error_types_text
    from feedback_data.schema import ERROR_NAMES
    from inference.backends import Backend

    said = Backend.load(tiny_t5).generate([error_types_prompt(Q["question"], CHAIN)],
                                          max_new_tokens=CRITIQUE_TOKENS)[0][0]
    codes = parse_error_types_text(said)
    expected = [] if codes is None else [lc.result_item(
        lc.ERROR_TYPES, [ERROR_NAMES[c] for c in codes] or [lc.NO_ERROR])]
    assert [p["result"] for p in results] == [expected, expected]
    r = client.post("/predict", json={"tasks": [{"id": 1, "data": {}}]})
    assert r.status_code == 422 and "question" in r.json()["detail"]


def test_predict_prefills_error_types_with_model_version() -> None:
    from fastapi import FastAPI

    from feedback_data import labeling_config as lc
    from inference.api import make_model_router
    from inference.toy_models import ScriptedGenerator

    stand_in = ScriptedGenerator(
        lambda p, _j: "missing facts, factual error" if "prey" in p else "no error")
    stand_in.info = {"path": "/runs/multitask/final", "run": {"commit": "abcdef123456789"}}
    app = FastAPI()
    app.include_router(make_model_router(stand_in))
    tasks = [{"id": i, "data": {lc.DATA_QUESTION: "Q?", lc.DATA_MODEL_OUTPUT: chain}}
             for i, chain in enumerate([CHAIN, "The answer is no because x."])]
    results = TestClient(app).post("/predict", json={"tasks": tasks}).json()["results"]
    assert [r["result"][0]["value"]["choices"] for r in results] == [
        ["Factual Error", "Missing Facts"], [lc.NO_ERROR]]
    assert {r["model_version"] for r in results} == {"final@abcdef1234"}
