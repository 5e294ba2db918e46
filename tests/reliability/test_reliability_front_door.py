"""The service's front door (issue 29, items 1-3): requests name tasks, never files; the token
is checked before any body is read; one body cap on every route, enforced while streaming;
NaN, infinities and out-of-range numbers are 422s naming the field; no input gets a 500.

A scripted stand-in model behind the real app (pipeline.serve.create_app); no network.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from feedback_data.tasks.registry import TASKS
from inference.toy_models import ScriptedGenerator
from pipeline.http_guard import SHOWN_CHARS, BodyGuard
from pipeline.serve import create_app
from rhf_cli import app as cli

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CAP = 1 << 20


def _stand_in() -> ScriptedGenerator:
    return ScriptedGenerator(lambda _p, _j: "The answer is yes because a.",
                             score=lambda _p, c: 0.0 if c == "no error" else -5.0)


@pytest.fixture
def client(monkeypatch) -> TestClient:
    monkeypatch.setenv("RHF_API_TOKEN", TOKEN)
    model = _stand_in()
    api = create_app(model=model, refine_model=model, base_model=model)
    return TestClient(api, raise_server_exceptions=False)


def _unknown(name: str) -> str:
    shown = name[:SHOWN_CHARS] + ("..." if len(name) > SHOWN_CHARS else "")
    return (f"Value error, unknown task {shown!r}: known tasks are {', '.join(TASKS.names())} "
            f"(a task from a YAML file is loaded when the server starts: rhf serve "
            f"--task-path FILE)")


# ---- 1. names, not paths ---------------------------------------------------------------------

SPEC = "name: secret-task\nloader: {jsonl: q.jsonl}\n"


@pytest.fixture
def spec_file(tmp_path) -> Path:
    (tmp_path / "q.jsonl").write_text('{"question": "Is it?", "answer": "yes"}\n')
    path = tmp_path / "secret.yaml"
    path.write_text(SPEC)
    return path


@pytest.mark.parametrize("task", ["/etc/passwd", "/etc/shadow", "../evil", "../../etc/passwd",
                                  "strategyqa/../../../etc/passwd", "/no/such/file.yaml",
                                  "~/.bashrc", "x" * 150])
def test_a_path_or_unknown_task_is_422_quoting_only_the_name(client, task):
    r = client.post("/v1/answer", headers=AUTH, json={"task": task, "question": "Q?"})
    assert r.status_code == 422
    assert [(d["loc"], d["msg"]) for d in r.json()["detail"]] == [(["body", "task"],
                                                                   _unknown(task))]
    assert "root:" not in r.text


def test_an_existing_spec_file_and_a_missing_one_get_the_same_answer(client, spec_file,
                                                                       tmp_path):
    link = tmp_path / "link.yaml"
    link.symlink_to(spec_file)
    answers = []
    for task in (str(spec_file), str(tmp_path / "missing.yaml"), str(link)):
        r = client.post("/v1/vote", headers=AUTH, json={"task": task, "question": "Q?"})
        assert r.status_code == 422
        answers.append(r.json()["detail"][0]["msg"].replace(task[:SHOWN_CHARS], "PATH"))
    assert len(set(answers)) == 1
    assert "secret-task" not in TASKS  # the file was never read


def test_a_very_long_task_name_is_refused_quoting_a_short_prefix(client):
    task = "a" * 100_000
    r = client.post("/v1/answer", headers=AUTH, json={"task": task, "question": "Q?"})
    assert r.status_code == 422 and len(r.content) < 1000
    (d,) = r.json()["detail"]
    assert d["loc"] == ["body", "task"] and d["type"] == "string_too_long"
    assert d["input"] == "a" * SHOWN_CHARS + "..."


def test_task_path_registers_specs_at_start_up(monkeypatch, spec_file):
    monkeypatch.setenv("RHF_API_TOKEN", TOKEN)
    try:
        api = create_app(model=_stand_in(), task_paths=[spec_file.parent])
        r = TestClient(api).post("/v1/answer", headers=AUTH,
                                 json={"task": "secret-task", "question": "Is it?"})
        assert r.status_code == 200 and r.json()["task"] == "secret-task"
    finally:
        if "secret-task" in TASKS:
            TASKS.unregister("secret-task")


def test_serve_with_a_bad_task_path_is_one_line(monkeypatch, tmp_path):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    monkeypatch.setenv("RHF_API_TOKEN", TOKEN)
    monkeypatch.delenv("RHF_TASK_PATH", raising=False)
    result = CliRunner().invoke(cli, ["serve", "--task-path", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1 and calls == []
    assert result.output.strip() == f"error: {tmp_path / 'nope.yaml'}: no such task file or folder"


# ---- 2. authenticate first, cap every body ---------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": TOKEN}])
@pytest.mark.parametrize("body", [b"{not json", b'{"task": "strategyqa", "question": "Q?"}',
                                  b"x" * (2 * CAP)])
def test_a_missing_or_wrong_token_is_401_whatever_the_body(client, headers, body):
    r = client.post("/v1/answer", headers={**headers, "Content-Type": "application/json"},
                    content=body)
    assert r.status_code == 401
    assert r.json() == {"detail": "missing or wrong bearer token (Authorization: Bearer "
                                  "<token>)"}


def test_a_body_over_the_cap_is_413_on_a_model_route(client):
    r = client.post("/v1/answer", headers=AUTH, json={"task": "strategyqa",
                                                      "question": "q" * (5 * CAP)})
    assert r.status_code == 413
    assert r.json() == {"detail": f"body over {CAP} bytes (the server's --max-body-bytes)"}


def test_the_cap_is_configurable_and_covers_the_webhook(monkeypatch, tmp_path):
    monkeypatch.setenv("RHF_API_TOKEN", TOKEN)
    api = create_app(feedback_store=tmp_path / "store.jsonl", webhook_secret="w",
                     model=_stand_in(), max_body_bytes=200)
    c = TestClient(api)
    assert c.post("/v1/answer", headers=AUTH, json={"task": "strategyqa",
                                                    "question": "Q?"}).status_code == 200
    for path in ("/v1/answer", "/webhook/label-studio"):
        r = c.post(path, headers={**AUTH, "X-RHF-Webhook-Secret": "w"},
                   json={"task": "strategyqa", "question": "q" * 300})
        assert (r.status_code, r.json()) == (413, {
            "detail": "body over 200 bytes (the server's --max-body-bytes)"})


def test_a_long_question_is_refused_quoting_a_short_prefix(client):
    r = client.post("/v1/answer", headers=AUTH, json={"task": "strategyqa",
                                                      "question": "q" * 500_000})
    assert r.status_code == 422 and len(r.content) < 1000
    (d,) = r.json()["detail"]
    assert d["loc"] == ["body", "question"] and d["input"] == "q" * SHOWN_CHARS + "..."


def _drive(guard: BodyGuard, chunks, headers=()) -> tuple[int, int]:
    """Send ``chunks`` (an iterator) through ``guard`` as one request; (status, bytes the
    guard pulled from the client)."""
    pulled, status = [0], [0]

    async def receive():
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled[0] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message):
        if message["type"] == "http.response.start":
            status[0] = message["status"]

    async def app(_scope, _receive, _send):  # the app behind: must never be reached
        raise AssertionError("the body reached the app")

    scope = {"type": "http", "method": "POST", "path": "/v1/answer",
             "headers": [(k.encode(), v.encode()) for k, v in headers]}
    asyncio.run(guard(scope, receive, send))
    return status[0], pulled[0]


def test_a_32_mb_stream_is_cut_off_at_the_cap_not_read_whole():
    chunk = 64 * 1024
    stream = (b"x" * chunk for _ in range(32 * 1024 * 1024 // chunk))
    status, pulled = _drive(BodyGuard(None, CAP), stream)
    assert status == 413 and pulled <= CAP + chunk


def test_a_declared_32_mb_body_is_refused_before_a_byte_is_read():
    stream = (b"x" * 65536 for _ in range(512))
    status, pulled = _drive(BodyGuard(None, CAP), stream,
                            [("content-length", str(32 * 1024 * 1024))])
    assert (status, pulled) == (413, 0)


def test_an_unauthorized_32_mb_body_is_not_read_at_all():
    stream = (b"x" * 65536 for _ in range(512))
    guard = BodyGuard(None, CAP, protected=lambda p: p.startswith("/v1/"),
                      authorized=lambda header: header == "Bearer ok")
    assert _drive(guard, stream) == (401, 0)


# ---- 3. non-finite and out-of-range numbers --------------------------------------------------

@pytest.mark.parametrize("path, field, raw, type_", [
    ("/v1/vote", "w", "NaN", "finite_number"),
    ("/v1/vote", "w", "Infinity", "finite_number"),
    ("/v1/vote", "w", "1.5", "less_than_equal"),
    ("/v1/vote", "w", "-0.1", "greater_than_equal"),
    ("/v1/vote", "temperature", "-Infinity", "finite_number"),
    ("/v1/answer", "max_new_tokens", "Infinity", "finite_number"),
    ("/v1/answer", "max_new_tokens", "NaN", "finite_number"),
    ("/v1/answer", "max_new_tokens", "-5", "greater_than_equal"),
    ("/v1/answer", "max_new_tokens", "1e300", "int_parsing_size"),
    ("/v1/critique", "max_new_tokens", "100000000000000000000000", "less_than_equal"),
    ("/v1/methods/wsc", "w", "NaN", "finite_number"),
    ("/v1/refine", "rounds", "Infinity", "finite_number"),
])
def test_non_finite_and_out_of_range_numbers_are_422_naming_the_field(client, path, field, raw,
                                                                      type_):
    chain = "" if path in ("/v1/vote", "/v1/answer") else \
        '"chain": "The answer is yes.", '
    body = f'{{"task": "strategyqa", "question": "Q?", {chain}"{field}": {raw}}}'
    r = client.post(path, headers={**AUTH, "Content-Type": "application/json"}, content=body)
    assert r.status_code == 422, r.text
    assert [(d["loc"], d["type"]) for d in r.json()["detail"]] == [(["body", field], type_)]


# ---- the fuzz: no input gets a 500 or a non-JSON reply ---------------------------------------

FIELDS = ("task", "question", "options", "chain", "k", "n", "w", "temperature", "rounds", "seed",
          "max_new_tokens", "tasks", "action", "annotation")
ODD = ["", "strategyqa", "/etc/passwd", "\ud800", "\x00", "é" * 3, None, True, 0, -1, 2**70,
       1e308, float("nan"), float("inf"), -0.0, [], {}, [1, "a"], {"data": {}}, "x" * 5000,
       [{"data": {"question": "Q?", "model_output": "\ud800"}}], [[[[[]]]]]]


def _fuzz_body(rng: random.Random) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    if kind == 1:
        depth = rng.choice([10, 1000, 100_000])
        return b"[" * depth + b"]" * depth
    if kind == 2:
        text = json.dumps({"task": "strategyqa", "question": "Q?"})
        return text[:rng.randrange(len(text))].encode()
    if kind == 3:
        return json.dumps(rng.choice(ODD)).encode()
    body = {} if kind == 4 else {"task": "strategyqa", "question": "Is it?"}
    for name in rng.sample(FIELDS, rng.randrange(1, 5)):
        body[name] = rng.choice(ODD)
    return json.dumps(body).encode()


def test_fuzzed_bodies_get_json_below_500_and_the_server_stays_up(monkeypatch, tmp_path):
    monkeypatch.setenv("RHF_API_TOKEN", TOKEN)
    model = _stand_in()
    api = create_app(feedback_store=tmp_path / "store.jsonl", webhook_secret="w",
                     model=model, refine_model=model, base_model=model)
    c = TestClient(api, raise_server_exceptions=False)
    routes = sorted(p for p, ops in api.openapi()["paths"].items() if "post" in ops)
    assert "/v1/answer" in routes and "/webhook/label-studio" in routes
    rng = random.Random(29)
    bad = []
    for path in routes:
        for _ in range(200):
            body = _fuzz_body(rng)
            r = c.post(path, content=body, headers={**AUTH, "X-RHF-Webhook-Secret": "w",
                                                     "Content-Type": "application/json"})
            try:
                r.json()
            except ValueError:
                bad.append((path, body[:60], r.status_code, "not JSON"))
                continue
            if r.status_code >= 500:
                bad.append((path, body[:60], r.status_code, r.text[:120]))
    assert bad == []
    assert c.get("/health").status_code == 200


def test_a_lone_surrogate_in_a_question_is_422_naming_the_field(client):
    body = b'{"task": "strategyqa", "question": "Is it \\ud800?"}'
    r = client.post("/v1/answer", headers={**AUTH, "Content-Type": "application/json"},
                    content=body)
    assert (r.status_code, r.json()) == (422, {"detail": [{
        "loc": ["body", "question"], "type": "unicode",
        "msg": "text that is not valid Unicode (a lone surrogate)"}]})


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


SERVER = """
import sys, uvicorn
from inference.toy_models import ScriptedGenerator
from pipeline.serve import create_app
app = create_app(model=ScriptedGenerator(lambda _p, _j: "The answer is yes because a."))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _send_chunked(port: int, size: int) -> bytes:
    """POST ``size`` bytes chunked (no Content-Length) to /v1/answer with the token; the
    reply's head (the server may answer, and close, before the body is all sent)."""
    import socket

    sent, chunk, reply = 0, b"x" * 65536, b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(f"POST /v1/answer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}"
                     f"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked"
                     f"\r\n\r\n".encode())
        try:
            while sent < size:
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:  # the server answered and closed: it stopped reading
            pass
        try:
            while b"\r\n\r\n" not in reply:
                data = conn.recv(65536)
                if not data:
                    break
                reply += data
        except OSError:
            pass
    return reply


def test_a_real_server_stays_flat_under_a_32_mb_body():
    """On loopback: 32 MB sent chunked (no Content-Length) with the token; the answer is
    413 and the server's memory grows by far less than the body."""
    import socket
    import subprocess
    import sys
    import time

    from tests.reliability.conftest import ROOT

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RHF_API_TOKEN": TOKEN}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, \
                    server.stdout.read().decode()[-2000:] if server.poll() is not None else ""
                time.sleep(0.2)
        _send_chunked(port, 2 * 1024 * 1024)  # a first over-cap body: what a request loads
        before = _rss_kb(server.pid)
        reply = _send_chunked(port, 32 * 1024 * 1024)
        grown_kb = _rss_kb(server.pid) - before
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        assert grown_kb < 12 * 1024, f"the server grew by {grown_kb} kB"
        assert server.poll() is None
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_routes_own_error_quoting_a_huge_input_is_cut_short(tmp_path, monkeypatch):
    """The webhook names an unknown choice in its 422: a 500 kB choice is not sent back."""
    from pipeline.http_guard import MAX_DETAIL_CHARS

    asset = json.loads((Path(__file__).resolve().parents[1] / "assets" / "ls_export.json")
                       .read_text(encoding="utf-8"))
    task = asset["tasks"][0]
    annotation = task["annotations"][0]
    for item in annotation["result"]:
        if item["from_name"] == "error_types":
            item["value"]["choices"] = ["z" * 500_000]
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    api = create_app(feedback_store=tmp_path / "store.jsonl", webhook_secret="w")
    r = TestClient(api).post("/webhook/label-studio", headers={"X-Rhf-Webhook-Secret": "w"},
                             json={"action": "ANNOTATION_CREATED", "task": task,
                                   "annotation": annotation})
    assert r.status_code == 422 and len(r.content) < MAX_DETAIL_CHARS + 100
    detail = r.json()["detail"]
    assert detail.startswith("task 27, annotation 54, field 'error_types': unknown choice 'zzz")
    assert detail.endswith("zzz...") and len(detail) == MAX_DETAIL_CHARS + 3
