"""One writer per output, with real processes: a second writer fails at once naming the
holder's pid and command; a holder killed with kill -9 blocks nothing (the kernel frees a
flock); the same for `rhf train`, `rhf eval --out`, `rhf demo --out`, `rhf data export` and
two `rhf serve` on one feedback store. (Data-parallel ranks sharing one run, rank 0 holding
the lock: tests/training/test_training_distributed.py.)"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rhf_cli import app
from tests.reliability.conftest import ROOT, launch_refine, logged_steps, snapshot, wait_for
from training.recipe.objectives import train

runner = CliRunner()
HOLDER = """
import sys, time
from feedback_data.files.write_lock import acquire
acquire(sys.argv[1], "x")
print("held", flush=True)
time.sleep(120)
"""


def _holder(lock_file: Path) -> subprocess.Popen:
    """A real process holding ``lock_file`` (started as `python -c ... LOCK`)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock_file)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _kill_9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_a_second_process_is_refused_naming_the_holder_and_kill_9_frees_it(tmp_path):
    from feedback_data.files.write_lock import OutputLocked, acquire, folder_lock, hold, holds

    lock = folder_lock(tmp_path / "out")
    proc = _holder(lock)
    try:
        with pytest.raises(OutputLocked) as info:
            acquire(lock, "the output", "try later")
        assert re.fullmatch(rf"the output is in use by pid {proc.pid} on {socket.gethostname()}"
                            r" \(python -c .+, started \S+\); try later", str(info.value))
    finally:
        _kill_9(proc)
    assert lock.exists()  # the dead holder's file is still there ...
    with hold(lock, "the output"):  # ... and blocks nothing
        assert holds(lock) and json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists() and not holds(lock)


def test_the_holding_process_may_nest_and_the_last_release_unlocks(tmp_path):
    from feedback_data.files.write_lock import acquire, file_lock, holds, release

    lock = file_lock(tmp_path / "store.jsonl")
    assert lock.name == ".store.jsonl.lock"
    outer = acquire(lock, "store")
    acquire(lock, "store")  # the demo locks its folder, then evaluates into it
    release(outer)
    assert holds(lock)
    release(outer)
    assert not holds(lock) and not lock.exists()


def test_two_rhf_train_on_one_folder_the_second_fails_at_once(rel_tiny_model, cfg_for,
                                                              tmp_path):
    """The issue's case: two runs with the same --out. The second is refused before it
    writes; after the first is killed with kill -9, a resume is not blocked."""
    run = tmp_path / "run"
    proc = launch_refine(rel_tiny_model, run, **{"train.max_steps": 6, "train.save_every": 2,
                                                 "train.step_sleep": 1.0})
    try:
        wait_for(lambda: (run / "checkpoints" / "step-2").is_dir(), proc)
        before = snapshot(run / "checkpoints" / "step-2")
        started = time.monotonic()
        second = runner.invoke(app, ["train", "--objective", "refine", "--model",
                                     str(rel_tiny_model), "--out", str(run), "--resume",
                                     "max_steps=6"])
        assert time.monotonic() - started < 5  # at once: no data or model loaded first
    finally:
        _kill_9(proc)
    assert second.exit_code == 1
    assert re.fullmatch(rf"error: {re.escape(str(run))} is in use by pid {proc.pid} on \S+ "
                        r"\(python -m training\.recipe\.refine .+, started \S+\); wait for it to "
                        r"finish, or choose another --out \(nothing was written\)",
                        second.output.strip()), second.output
    assert snapshot(run / "checkpoints" / "step-2") == before
    assert json.loads((run / ".lock").read_text())["pid"] == proc.pid  # stale, not a lock
    steps_before = logged_steps(run)
    final = train(cfg_for(run, **{"train.max_steps": 6, "train.save_every": 0,
                                  "train.resume": True}))
    assert final.is_dir() and not (run / ".lock").exists()
    assert logged_steps(run) == list(range(1, 7)) and len(steps_before) >= 2
    assert json.loads((run / "run.json").read_text())["resumes"][0]["from_step"] >= 2


@pytest.mark.parametrize("argv", [
    ["eval", "--model", "models/tiny-base", "--base-model", "models/tiny-base",
     "--methods", "cot", "--out", "{out}"],
    ["demo", "--quick", "--out", "{out}"],
], ids=["eval", "demo"])
def test_eval_and_demo_refuse_a_folder_another_process_writes(tmp_path, argv):
    out = tmp_path / "out"
    proc = _holder(out / ".lock")
    try:
        result = runner.invoke(app, [a.replace("{out}", str(out)) for a in argv])
    finally:
        _kill_9(proc)
    assert result.exit_code == 1
    assert re.fullmatch(rf"error: {re.escape(str(out))} is in use by pid {proc.pid} on \S+ "
                        r"\(python -c .+\); wait for it to finish, or choose another --out "
                        r"\(nothing was written\)", result.output.strip()), result.output
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # the holder's, nothing more


def test_data_export_refuses_a_target_another_process_writes(tmp_path, monkeypatch):
    from feedback_data.records.jsonl import write_records
    from feedback_data.sources.paper_import import imported_path
    from tests.reliability.test_reliability_export import _item

    monkeypatch.setenv("RHF_CACHE", str(tmp_path / "cache"))
    write_records(imported_path("strategyqa", "train"), [_item(0)])
    out = tmp_path / "feedback.jsonl"
    proc = _holder(out.with_name(f".{out.name}.lock"))
    try:
        result = runner.invoke(app, ["data", "export", str(out)])
    finally:
        _kill_9(proc)
    assert result.exit_code == 1 and not out.exists()
    assert result.output.strip().startswith(f"error: {out} is in use by pid {proc.pid} ")
    result = runner.invoke(app, ["data", "export", str(out)])  # the holder is gone
    assert result.exit_code == 0, result.output
    assert out.is_file() and not out.with_name(f".{out.name}.lock").exists()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(store: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rhf_cli", "serve", "--port", str(port),
                             "--feedback-store", str(store)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_rhf_serve_on_one_store_the_second_does_not_start(tmp_path):
    import httpx

    store = tmp_path / "feedback-store.jsonl"
    port = _port()
    first = _serve(store, port)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert first.poll() is None, first.stdout.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the first rhf serve never answered"
            time.sleep(0.2)
        second = _serve(store, _port())
        try:
            out, _ = second.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait()
            raise AssertionError("the second rhf serve started on the same store") from None
    finally:
        first.terminate()
        first.wait(10)
    assert second.returncode == 1, out
    assert re.search(rf"^error: feedback store {re.escape(str(store))} is in use by pid "
                     rf"{first.pid} on \S+ \(rhf serve --port {port} --feedback-store "
                     rf"{re.escape(str(store))}, started \S+\); stop that rhf serve, or give "
                     r"this one another --feedback-store$", out, re.MULTILINE), out
    assert "Traceback" not in out
