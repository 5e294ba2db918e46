"""The model endpoints through FastAPI's test client: auth, limits, each endpoint on its own
model (routing, 409 for a model not served, /health), micro-batching and the 503 of a full
queue, /predict."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from inference.batcher import BatchingConfig
from inference.methods import CRITIQUE_TOKENS
from inference.toy_models import ScriptedGenerator
from pipeline.serve import create_app


@pytest.fixture(scope="module")
def client(tiny_t5: Path) -> TestClient:
    return TestClient(create_app(model=str(tiny_t5), refine_model=str(tiny_t5),
                                 base_model=str(tiny_t5)))


Q = {"task": "strategyqa", "question": "Do hamsters provide food for any animals?",
     "max_new_tokens": 8}
CHAIN = "The answer is yes because Hamsters are prey animals."


def test_endpoints(client: TestClient) -> None:
    r = client.post("/v1/answer", json=Q)
    assert r.status_code == 200 and set(r.json()) >= {"answer", "text", "model_version"}
    assert r.json()["task"] == "strategyqa"
    r = client.post("/v1/critique", json=Q | {"chain": CHAIN})
    assert r.status_code == 200 and set(r.json()) >= {"error_types", "description"}
    r = client.post("/v1/refine", json=Q | {"chain": CHAIN, "rounds": 2})
    body = r.json()
    assert r.status_code == 200 and 1 <= body["rounds"] <= 2 and body["stop"]
    assert body["start"] == CHAIN and body["start_model_version"] is None
    r = client.post("/v1/refine", json=Q | {"rounds": 1, "k": 1})  # the base model starts
    assert r.status_code == 200 and r.json()["start_model_version"] == r.json()["model_version"]
    r = client.post("/v1/vote", json=Q | {"n": 3})
    assert r.status_code == 200 and len(r.json()["samples"]) == 3
    assert client.get("/openapi.json").json()["paths"].keys() >= {
        "/v1/answer", "/v1/critique", "/v1/refine", "/v1/vote", "/predict"}


def test_health_lists_the_models_with_versions_and_dtypes(client: TestClient, tiny_t5):
    body = client.get("/health").json()
    version = client.post("/setup", json={}).json()["model_version"]
    assert body["status"] == "ok" and set(body["models"]) == {"multitask", "refine", "base"}
    for served in body["models"].values():
        assert served == {"spec": str(tiny_t5), "model_version": version, "dtype": "float32",
                          "device": "cpu"}
    assert body["batching"]["enabled"] is True


def _stand_in(name: str) -> ScriptedGenerator:
    """A model that signs what it writes, so a test sees which model answered."""
    def respond(prompt: str, j: int) -> str:
        if name == "refine":
            return f"no error ; The answer is no because {name}."
        return f"The answer is yes because {name} {j}."

    gen = ScriptedGenerator(respond, name=name,
                            score=lambda _p, c: 0.0 if c == "no error" else -3.0)
    gen.info = {"path": f"/runs/{name}/final", "run": {"commit": f"{name}0123456789"}}
    return gen


def test_each_endpoint_runs_the_model_trained_for_it() -> None:
    mt, rf, base = _stand_in("multitask"), _stand_in("refine"), _stand_in("base")
    c = TestClient(create_app(model=mt, refine_model=rf, base_model=base))
    assert c.post("/v1/answer", json=Q).json()["text"] == "The answer is yes because multitask 0."
    samples = c.post("/v1/vote", json=Q | {"n": 2}).json()["samples"]
    assert [s["text"] for s in samples] == [f"The answer is yes because multitask {j}."
                                            for j in (0, 1)]
    assert "multitask" in c.post("/v1/critique", json=Q | {"chain": CHAIN}).json()["description"]
    body = c.post("/v1/refine", json=Q | {"k": 2}).json()
    assert body["start"] == "The answer is yes because base 0."  # base writes the first chain
    assert body["history"] == ["no error ; The answer is no because refine."]
    assert body["model_version"] == "final@refine0123" and body["stop"] == "no_error"
    assert body["start_model_version"] == "final@base012345"
    # The base model got a 2-shot CoT prompt ending with the question, the refine model the
    # refine instruction, and the multitask model neither.
    cot = [p for call in base.calls for p in call["prompts"]]
    assert len(cot) == 1 and cot[0].count("\nA: The answer is") == 2
    assert cot[0].endswith(f"Q: {Q['question']}\nA:")
    refine_asked = [p for call in rf.calls for p in call["prompts"]]
    assert len(refine_asked) == 1 and refine_asked[0].startswith("Find the errors")
    assert not any(p.startswith("Find the errors") for call in mt.calls
                   for p in call.get("prompts", []))


@pytest.mark.parametrize(("served", "path", "body", "flag"), [
    ({"model": True}, "/v1/refine", Q | {"chain": CHAIN}, "--refine-model"),
    ({"refine_model": True}, "/v1/refine", Q, "--base-model"),
    ({"refine_model": True}, "/v1/answer", Q, "--model"),
    ({"refine_model": True}, "/v1/critique", Q | {"chain": CHAIN}, "--model"),
    ({"refine_model": True}, "/v1/vote", Q, "--model"),
    ({"refine_model": True}, "/predict", {"tasks": []}, "--model"),
    ({"refine_model": True}, "/setup", {}, "--model"),
])
def test_an_endpoint_whose_model_is_not_served_is_409_naming_the_flag(served, path, body, flag):
    kwargs = {k: _stand_in(k) for k in served}
    r = TestClient(create_app(**kwargs)).post(path, json=body)
    assert r.status_code == 409
    assert r.json()["detail"].startswith(f"{path} needs the ")
    assert r.json()["detail"].endswith(f": start rhf serve with {flag}")


def test_refine_with_a_chain_needs_no_base_model() -> None:
    c = TestClient(create_app(refine_model=_stand_in("refine")))
    r = c.post("/v1/refine", json=Q | {"chain": CHAIN})
    assert r.status_code == 200 and r.json()["start"] == CHAIN


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/v1/vote", Q | {"n": 65}, "n"),
    ("/v1/answer", Q | {"max_new_tokens": 10_000}, "max_new_tokens"),
    ("/v1/answer", Q | {"question": "x" * 1001}, "question"),
    ("/v1/critique", {"task": "strategyqa", "question": "q"}, "chain"),
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


def _concurrently(fn, n: int) -> list:
    """Call ``fn(i)`` from n threads released together; results in order."""
    out: list = [None] * n
    gate = threading.Barrier(n)

    def run(i: int) -> None:
        gate.wait()
        out[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return out


def test_concurrent_requests_share_one_generate_call() -> None:
    """8 critiques at once with a 300 ms batching window: one or two generate calls instead
    of 8, and each request gets its own chain's critique back."""
    mt = ScriptedGenerator(lambda p, _j: "factual error" if p.startswith("Which errors") else
                           p.rsplit("Answer: ", 1)[-1])
    c = TestClient(create_app(model=mt, batching=BatchingConfig(max_wait_ms=300)))
    chains = [f"The answer is yes because reason {i}." for i in range(8)]
    rs = _concurrently(lambda i: c.post("/v1/critique", json=Q | {"chain": chains[i]}), 8)
    assert [r.status_code for r in rs] == [200] * 8
    assert len(mt.calls) <= 2 and sum(len(x["prompts"]) for x in mt.calls) == 16
    assert [r.json()["description"] for r in rs] == chains
    assert all(r.json()["error_types"] == ["FE"] for r in rs)
    locked = ScriptedGenerator(mt.respond)
    c = TestClient(create_app(model=locked, batching=BatchingConfig(enabled=False)))
    _concurrently(lambda i: c.post("/v1/critique", json=Q | {"chain": chains[i]}), 8)
    assert len(locked.calls) == 8  # the design before: one call per request


def test_a_full_queue_is_503_with_retry_after() -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(prompt: str, _j: int) -> str:
        entered.set()
        release.wait(timeout=30)
        return "The answer is yes because x."

    app = create_app(model=ScriptedGenerator(slow), batching=BatchingConfig(
        max_wait_ms=0, max_rows=1, queue_size=1))
    c = TestClient(app)
    first = threading.Thread(target=lambda: c.post("/v1/answer", json=Q))
    first.start()
    assert entered.wait(timeout=30)  # the worker is busy with the first request
    second = threading.Thread(target=lambda: c.post("/v1/answer", json=Q))
    second.start()
    deadline = time.time() + 30
    while not _queued(app) and time.time() < deadline:  # the second one waits in the queue
        time.sleep(0.01)
    r = c.post("/v1/answer", json=Q)
    release.set()
    first.join(timeout=30)
    second.join(timeout=30)
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert "1 calls already queued" in r.json()["detail"]
    assert c.post("/v1/answer", json=Q).status_code == 200  # room again


def _queued(app) -> int:
    """Calls waiting in the app's multitask batcher."""
    return app.state.models.get("multitask").model.batcher.jobs.qsize()


def test_label_studio_predict(client: TestClient, tiny_t5: Path) -> None:
    from annotation import labeling_config as lc

    task = {"id": 7, "data": {lc.DATA_QUESTION: Q["question"], lc.DATA_MODEL_OUTPUT: CHAIN}}
    r = client.post("/predict", json={"tasks": [task, task], "label_config": "<View/>"})
    assert r.status_code == 200
    results = r.json()["results"]
    version = client.post("/setup", json={}).json()["model_version"]
    assert len(results) == 2 and all(p["model_version"] == version for p in results)
    # What the model itself says about this chain, read the way /predict must read it.
    from feedback_data.records.schema import ERROR_NAMES
    from feedback_data.text.instructions import error_types_prompt, parse_error_types_text
    from inference.backends import Backend

    said = Backend.load(tiny_t5).generate([error_types_prompt(Q["question"], CHAIN)],
                                          max_new_tokens=CRITIQUE_TOKENS)[0][0]
    codes = parse_error_types_text(said)
    expected = [] if codes is None else [lc.result_item(
        lc.ERROR_TYPES, [ERROR_NAMES[c] for c in codes] or [lc.NO_ERROR])]
    assert [p["result"] for p in results] == [expected, expected]
    # Label Studio's score: the critic's confidence in what it pre-filled, from P(no error)
    # over all 16 labels (feedback_data.text.critic_labels), the number calibration reads.
    from feedback_data.text.critic_labels import no_error_probabilities

    p_no = no_error_probabilities(Backend.load(tiny_t5),
                                  [error_types_prompt(Q["question"], CHAIN)])[0]
    if codes is None:  # nothing pre-filled, nothing scored
        assert all("score" not in p for p in results)
    else:
        want = p_no if codes == [] else 1.0 - p_no
        assert [p["score"] for p in results] == [pytest.approx(want, abs=1e-5)] * 2
    r = client.post("/v1/critique", json=Q | {"chain": CHAIN})
    assert r.json()["p_no_error"] == pytest.approx(p_no, abs=1e-5)
    r = client.post("/predict", json={"tasks": [{"id": 1, "data": {}}]})
    assert r.status_code == 422 and "question" in r.json()["detail"]


def test_prediction_score_is_the_confidence_in_what_is_prefilled() -> None:
    from inference.ml_backend import prediction

    assert prediction(["FE", "MF"], None, 2, "v", p_no_error=0.3)["score"] == 0.7
    assert prediction([], None, 2, "v", p_no_error=0.8)["score"] == 0.8
    assert "score" not in prediction(None, None, 2, "v", p_no_error=0.8)
    assert "score" not in prediction([], None, 2, "v")


def test_predict_prefills_error_types_with_model_version_in_two_batched_calls() -> None:
    from fastapi import FastAPI

    from annotation import labeling_config as lc
    from inference.api import make_model_router

    stand_in = ScriptedGenerator(
        lambda p, _j: "missing facts, factual error" if "prey" in p else "no error")
    stand_in.info = {"path": "/runs/multitask/final", "run": {"commit": "abcdef123456789"}}
    app = FastAPI()
    app.include_router(make_model_router(stand_in))
    tasks = [{"id": i, "data": {lc.DATA_QUESTION: "Q?", lc.DATA_MODEL_OUTPUT: chain}}
             for i, chain in enumerate([CHAIN, "The answer is no because x.", CHAIN])]
    results = TestClient(app).post("/predict", json={"tasks": tasks}).json()["results"]
    assert [r["result"][0]["value"]["choices"] for r in results] == [
        ["Factual Error", "Missing Facts"], [lc.NO_ERROR], ["Factual Error", "Missing Facts"]]
    assert {r["model_version"] for r in results} == {"final@abcdef1234"}
    # All three tasks' error types in one call, then the two flagged tasks' descriptions.
    assert [len(c["prompts"]) for c in stand_in.calls] == [3, 2]


def test_a_separate_critic_gives_p_no_error() -> None:
    """rhf serve --critic-model: /v1/critique's P(no error) comes from the critic (every
    label scored 0: 1/16 = 0.0625), not the multitask model (no error 0, the 15 others -3:
    1 / (1 + 15 e^-3) = 0.572473), which still writes the critique; the same for /predict."""
    mt = _stand_in("multitask")
    critic = ScriptedGenerator(lambda _p, _j: "unused", name="critic", score=lambda _p, _c: 0.0)
    critic.info = {"path": "/runs/critic/final"}
    with_critic = TestClient(create_app(model=mt, critic_model=critic))
    body = with_critic.post("/v1/critique", json=Q | {"chain": CHAIN}).json()
    assert body["p_no_error"] == pytest.approx(0.0625)
    assert "multitask" in body["description"]
    alone = TestClient(create_app(model=_stand_in("multitask")))
    assert alone.post("/v1/critique", json=Q | {"chain": CHAIN}).json()["p_no_error"] == \
        pytest.approx(0.572473, abs=1e-6)
    assert critic.calls and all("choices" in c for c in critic.calls)  # it only scored


def test_a_checkpoint_with_a_combiner_is_read_as_the_combined_critic(tmp_path: Path) -> None:
    """The multitask checkpoint holds a combiner for StrategyQA (no weight, bias log 3:
    P 3/4) whose verifier is the served base model: /v1/critique and wsc_soft read 3/4,
    /health shows the verifier; a task without a fit keeps the learned P."""
    import json
    import math

    mt, base = _stand_in("multitask"), _stand_in("base")
    mt.info = {"path": str(tmp_path)}
    (tmp_path / "critic.json").write_text(json.dumps({"combiner": {
        "features": ["learned", "verification", "agreement"], "verifier": {"model": "base"},
        "tasks": {"strategyqa": {"mean": [0.0] * 3, "std": [1.0] * 3, "weights": [0.0] * 3,
                                 "bias": math.log(3.0)}}}}))
    c = TestClient(create_app(model=mt, base_model=base))
    body = c.post("/v1/critique", json=Q | {"chain": CHAIN}).json()
    assert body["p_no_error"] == 0.75 and body["p_no_error_from"] == "combined"
    # the base model wrote its own chain for the question: the verification
    assert any(Q["question"] in p for call in base.calls for p in call["prompts"])
    sports = {"task": "sports_understanding", "chain": CHAIN, "max_new_tokens": 8,
              "question": 'Is the following sentence plausible? "Joao Moutinho caught the '
                          'screen pass."'}
    body = c.post("/v1/critique", json=sports).json()
    learned = 1 / (1 + 15 * math.exp(-3.0))  # the stand-in's label scores, softmax
    assert body["p_no_error"] == pytest.approx(learned, abs=1e-6)
    assert body["p_no_error_from"] == "learned"
    assert c.get("/health").json()["models"]["verifier"]["spec"] == "base"
    meta = c.post("/v1/methods/wsc_soft", json=Q | {"n": 2}).json()["meta"]
    assert meta["weights"] == pytest.approx([0.5 + 0.5 * 0.75] * 2)
    # the Label Studio ML backend: a task rhf pushed names its task, so its score is the
    # combined critic's P (the stand-in's label is unreadable there, so the score is checked
    # through a critic that says 'no error')
    from annotation import labeling_config as lc

    says_ok = ScriptedGenerator(lambda p, j: "no error", "multitask",
                                score=lambda _p, c: 0.0 if c == "no error" else -3.0)
    says_ok.info = {"path": str(tmp_path)}
    pushed = {lc.DATA_QUESTION: Q["question"], lc.DATA_MODEL_OUTPUT: CHAIN,
              lc.DATA_RHF: {"example": {"task": "strategyqa"}}}
    tasks = [{"id": 0, "data": pushed},
             {"id": 1, "data": {k: v for k, v in pushed.items() if k != lc.DATA_RHF}}]
    results = TestClient(create_app(model=says_ok, base_model=_stand_in("base"))).post(
        "/predict", json={"tasks": tasks}).json()["results"]
    assert [r["score"] for r in results] == [0.75, pytest.approx(learned, abs=1e-6)]


def test_a_combiner_with_planned_subquestions_serves_its_planner(tmp_path: Path) -> None:
    """A combiner that reads the planned subquestions names its planner (here the served
    base model): /v1/critique asks it for the question's subquestions, and /health lists it
    as the role 'planner' beside the verifier."""
    import json
    import math

    from feedback_data.text.instructions import subquestions_prompt

    mt, base = _stand_in("multitask"), _stand_in("base")
    mt.info = {"path": str(tmp_path)}
    (tmp_path / "critic.json").write_text(json.dumps({"combiner": {
        "features": ["learned", "verification", "agreement", "subquestions"],
        "verifier": {"model": "base", "planner": "base"},
        "tasks": {"strategyqa": {"mean": [0.0] * 4, "std": [1.0] * 4, "weights": [0.0] * 4,
                                 "bias": math.log(3.0)}}}}))
    c = TestClient(create_app(model=mt, base_model=base))
    body = c.post("/v1/critique", json=Q | {"chain": CHAIN}).json()
    assert body["p_no_error"] == 0.75 and body["p_no_error_from"] == "combined"
    asked = [p for call in base.calls for p in call["prompts"]]
    assert subquestions_prompt(Q["question"]) in asked
    models = c.get("/health").json()["models"]
    assert models["planner"]["spec"] == models["verifier"]["spec"] == "base"


def test_a_critic_on_label_words_is_parsed_in_its_words() -> None:
    """A multitask model trained on label words (its critic.json names them) writes 'fact,
    missing' or 'correct': /predict pre-fills those classes and /v1/critique returns their
    codes."""
    from fastapi import FastAPI

    from annotation import labeling_config as lc
    from feedback_data.text.critic_labels import CriticReading
    from inference.api import make_model_router

    stand_in = ScriptedGenerator(lambda p, _j: "fact, missing" if "prey" in p else "correct")
    stand_in.critic_reading = CriticReading(  # type: ignore[attr-defined]
        label_words=("correct", "fact", "missing", "irrelevant", "conflict"))
    app = FastAPI()
    app.include_router(make_model_router(stand_in))
    tasks = [{"id": i, "data": {lc.DATA_QUESTION: "Q?", lc.DATA_MODEL_OUTPUT: chain}}
             for i, chain in enumerate([CHAIN, "The answer is no because x."])]
    results = TestClient(app).post("/predict", json={"tasks": tasks}).json()["results"]
    assert [r["result"][0]["value"]["choices"] for r in results] == [
        ["Factual Error", "Missing Facts"], [lc.NO_ERROR]]
    body = TestClient(app).post("/v1/critique", json=Q | {"chain": CHAIN}).json()
    assert body["error_types"] == ["FE", "MF"] and body["error_types_text"] == "fact, missing"
