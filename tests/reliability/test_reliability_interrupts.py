"""Ctrl-C and SIGTERM during training, with real signals: the first ends the run after the
current step with a checkpoint, says where and how to resume, and exits 130 (SIGINT) or
143 (SIGTERM); a second stops at once. The run resumes from that step. One test signals a
real ``python -m training.recipe.refine`` process; the others signal this process while
``rhf train`` runs in it (a thread sends the signal once the run is under way). Under
``accelerate launch``: tests/training/test_training_distributed.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rhf_cli import app
from tests.reliability.conftest import FAST, launch_refine, logged_steps, wait_for
from training.recipe.objectives import train
from training.run import checkpoint as ckpt
from training.run.checkpoint import verify_checkpoint

STEPS = 6
runner = CliRunner()


def test_ctrl_c_checkpoints_the_step_says_how_to_resume_and_exits_130(rel_tiny_model, cfg_for,
                                                                      tmp_path):
    run = tmp_path / "run"
    proc = launch_refine(rel_tiny_model, run, **{"train.max_steps": STEPS,
                                                 "train.save_every": 0,
                                                 "train.step_sleep": 0.3})
    wait_for(lambda: len(logged_steps(run)) >= 2, proc)
    os.kill(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "Traceback" not in out
    match = re.search(r"^interrupted at step (\d+) \(checkpoint (\S+)\); resume with: (.+)$",
                      out, re.MULTILINE)
    assert match, out
    step = int(match.group(1))
    assert 2 <= step < STEPS
    assert ckpt.list_checkpoints(run) == [run / "checkpoints" / f"step-{step}"]
    assert match.group(2) == str(run / "checkpoints" / f"step-{step}")
    verify_checkpoint(run / "checkpoints" / f"step-{step}")
    assert ckpt.read_state(run / "checkpoints" / f"step-{step}")["step"] == step
    assert logged_steps(run) == list(range(1, step + 1))  # the step it was in, finished
    assert not (run / "final").exists() and not (run / ".lock").exists()
    command = shlex.split(match.group(3))
    assert command[:3] == ["python", "-m", "training.recipe.refine"] and command[-1] == "--resume"

    # Resumed (here in-process, without the sleep) from that step, to the end, no step lost.
    train(cfg_for(run, **{"train.max_steps": STEPS, "train.save_every": 0,
                          "train.resume": True}))
    assert logged_steps(run) == list(range(1, STEPS + 1))
    resumes = json.loads((run / "run.json").read_text())["resumes"]
    assert [r["from_step"] for r in resumes] == [step]


@pytest.fixture
def signal_this_process() -> Iterator:
    """signal_this_process(run, [sig, ...], gap, when): a thread sends the signals to this
    process once ``when()`` (default: ``run`` has logged a step). Handlers that only record
    are installed meanwhile, so a signal the code under test fails to catch fails the test
    instead of ending pytest."""
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda n, _f: caught.append(n))
                for s in (signal.SIGINT, signal.SIGTERM)}
    threads: list[threading.Thread] = []
    sent: list[float] = []

    def start(run: Path, sigs: list[int], gap: float = 0.0, when=None) -> list[float]:
        ready = when or (lambda: bool(logged_steps(run)))

        def send() -> None:
            deadline = time.monotonic() + 120
            while not ready() and time.monotonic() < deadline:
                time.sleep(0.02)
            for i, sig in enumerate(sigs):
                if i:
                    time.sleep(gap)
                sent.append(time.monotonic())
                os.kill(os.getpid(), sig)

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        threads.append(thread)
        return sent  # the times the signals went out

    yield start
    for thread in threads:
        thread.join(30)
    for s, handler in previous.items():
        signal.signal(s, handler)
    assert caught == [], "a signal reached the test's own handler: the run did not catch it"


def _rhf_train(model: Path, run: Path, **extra) -> list[str]:
    values = {**FAST, "train.max_steps": 40, **extra}
    return ["train", "--objective", "refine", "--model", str(model), "--out", str(run),
            *[f"{k}={v}" for k, v in values.items()]]


def test_sigterm_to_rhf_train_checkpoints_and_exits_143(rel_tiny_model, tmp_path,
                                                        signal_this_process):
    run = tmp_path / "run"
    signal_this_process(run, [signal.SIGTERM])
    result = runner.invoke(app, _rhf_train(rel_tiny_model, run, **{"train.step_sleep": 0.2}))
    assert result.exit_code == 143, result.output
    assert "Traceback" not in result.output and "final model" not in result.output
    match = re.search(r"interrupted at step (\d+) \(checkpoint \S+\); resume with: rhf train "
                      r"--objective refine .* --resume$", result.output, re.MULTILINE)
    assert match, result.output
    step = int(match.group(1))
    assert [p.name for p in ckpt.list_checkpoints(run)] == [f"step-{step}"]
    assert logged_steps(run) == list(range(1, step + 1))
    assert not (run / "final").exists()


def test_a_second_ctrl_c_stops_at_once(rel_tiny_model, tmp_path, signal_this_process):
    run = tmp_path / "run"
    # A 5 s pause after each step: the first Ctrl-C lands in it and waits for the step's end;
    # the second, half a second later, must not.
    sent = signal_this_process(run, [signal.SIGINT, signal.SIGINT], gap=0.5,
                               when=lambda: (run / "checkpoints" / "step-1").is_dir())
    result = runner.invoke(app, _rhf_train(rel_tiny_model, run, **{"train.save_every": 1,
                                                                   "train.step_sleep": 5.0}))
    assert result.exit_code == 130, result.output
    assert "Traceback" not in result.output
    assert re.search(r"stopped at once by a second signal; kept checkpoint \S+step-1 "
                     r"\(valid\); resume with: rhf train .* --resume$", result.output,
                     re.MULTILINE), result.output
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["step-1"]
    assert logged_steps(run) == [1]
    assert len(sent) == 2
    # It did not sit out the rest of the 5 s pause.
    assert time.monotonic() - sent[1] < 3.0, result.output
