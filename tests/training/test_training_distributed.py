"""Data-parallel training on CPU (gloo) through ``accelerate launch``: two processes on one
machine, killed with kill -9 and resumed; and two "machines" (two launches, ranks 0 and 1)
on localhost. Both must match a single-process run with the same global batch. (FSDP and
DeepSpeed cannot run here: accelerate shards only on an accelerator, and on CPUs falls back to
plain data parallel, which the recipe refuses; see test_sharded_launch_on_cpu_is_refused.)

Two processes with batch_size 4 see, per step, the batches a single process sees with
batch_size 4 and grad_accum 2 (accelerate hands batch 2k to rank 0 and 2k+1 to rank 1),
and DDP averages the two gradients as accumulation does; only the order of float sums
differs, hence the tolerance of 1e-4 on losses and 1e-5 on weights.
"""

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
import torch

from tests.training.conftest import FAST, weights
from training.recipe.objectives import train
from training.run import checkpoint as ckpt
from training.run.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {"data.max_records": 16, "data.max_source_len": 48, "data.max_target_len": 32,
            "train.batch_size": 4, "train.max_steps": 6, "train.save_every": 2,
            "train.keep_checkpoints": 5}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(tiny_model: Path, out: Path, launch_args: list[str], **extra) -> subprocess.Popen:
    values = {**FAST, **SETTINGS, "model.name_or_path": str(tiny_model),
              "train.output_dir": str(out), **extra}
    args = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in values.items()]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    mode = [] if "--config_file" in launch_args else ["--multi_gpu"]
    return subprocess.Popen(
        [sys.executable, "-m", "accelerate.commands.launch", *mode,
         "--mixed_precision", "no", "--dynamo_backend", "no", *launch_args,
         "-m", "training.recipe.multitask", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)  # its own process group: kill -9 reaches every rank


def _finish(proc: subprocess.Popen, timeout: float = 150) -> None:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out.decode()[-3000:]


def _losses(run: Path) -> dict[int, float]:
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return {x["step"]: x["train/loss"] for x in lines if "train/loss" in x}


def _reference(make_cfg, tmp_path: Path) -> tuple[dict[int, float], dict]:
    ref = tmp_path / "single"
    final = train(make_cfg("multitask", out=ref, **SETTINGS, **{"train.grad_accum": 2}))
    return _losses(ref), weights(final)


def _assert_matches(run: Path, ref_losses: dict[int, float], ref_weights: dict) -> None:
    losses = _losses(run)
    assert sorted(losses) == list(range(1, 7))
    assert all(abs(losses[s] - ref_losses[s]) <= 1e-4 for s in losses), (losses, ref_losses)
    got = weights(run / "final")
    assert got.keys() == ref_weights.keys()
    assert all(torch.allclose(got[k], ref_weights[k], atol=1e-5) for k in got)
    assert json.loads((run / "run.json").read_text())["num_processes"] == 2


def _distributed_type(run: Path) -> str:
    return json.loads((run / "run.json").read_text())["distributed_type"]


def test_two_processes_killed_and_resumed_match_one_process(make_cfg, tmp_path, tiny_model):
    ref_losses, ref_weights = _reference(make_cfg, tmp_path)
    run = tmp_path / "ddp"
    launch = ["--num_processes", "2", "--num_machines", "1", "--main_process_port"]
    proc = _launch(tiny_model, run, [*launch, str(_port())], **{"train.step_sleep": 0.5})
    deadline = time.time() + 120
    while not (run / "checkpoints" / "step-2").is_dir():
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.time() < deadline, "no checkpoint within 120 s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "final").exists()
    assert ckpt.read_state(ckpt.list_checkpoints(run)[-1])["step"] < 6
    _finish(_launch(tiny_model, run, [*launch, str(_port())], **{"train.resume": True}))
    _assert_matches(run, ref_losses, ref_weights)
    assert json.loads((run / "run.json").read_text())["resumes"][0]["from_step"] >= 2
    assert _distributed_type(run) == "MULTI_CPU"


def test_sharded_launch_on_cpu_is_refused(make_cfg, tmp_path, tiny_model, monkeypatch):
    """accelerate turns an FSDP launch on CPUs into plain data parallel without a word; the
    recipe refuses before training instead of running unsharded. (A DeepSpeed launch here
    stops in accelerate: DeepSpeed is not installed.)"""
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    out = tmp_path / "sharded"
    with pytest.raises(ConfigError, match=r"asks for FSDP but accelerate runs NO on cpu "
                                          r"\(FSDP needs GPUs\)"):
        train(make_cfg("multitask", out=out, **SETTINGS))
    assert not (out / "final").exists() and not (out / "checkpoints").exists()


def test_two_machines_on_localhost_train_together(make_cfg, tmp_path, tiny_model):
    ref_losses, ref_weights = _reference(make_cfg, tmp_path)
    run, port = tmp_path / "nodes", str(_port())
    procs = [_launch(tiny_model, run, ["--num_machines", "2", "--num_processes", "2",
                                       "--machine_rank", str(rank), "--main_process_ip",
                                       "127.0.0.1", "--main_process_port", port])
             for rank in (0, 1)]
    for proc in procs:
        _finish(proc)
    _assert_matches(run, ref_losses, ref_weights)


def test_ctrl_c_on_the_launcher_stops_every_rank_after_the_same_step(make_cfg, tmp_path,
                                                                     tiny_model):
    """Ctrl-C in a terminal reaches `accelerate launch` only (each rank has its own session);
    the launcher passes SIGINT on, the ranks agree on the step, write one checkpoint
    together and stop. Rank 0 holds the run's lock meanwhile: a second writer is refused,
    naming rank 0's pid (not the launcher's)."""
    from training.run.checkpoint import RunDirError

    run = tmp_path / "ddp"
    launch = ["--num_processes", "2", "--num_machines", "1", "--main_process_port", str(_port())]
    proc = _launch(tiny_model, run, launch, **{"train.step_sleep": 0.5, "train.save_every": 0,
                                               "train.max_steps": 40})
    deadline = time.time() + 120
    while len((run / "metrics.jsonl").read_text().splitlines()
              if (run / "metrics.jsonl").exists() else []) < 2:
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.time() < deadline, "no step logged within 120 s"
        time.sleep(0.05)
    holder = json.loads((run / ".lock").read_text())
    assert holder["pid"] != proc.pid and "training.recipe.multitask" in holder["command"]
    with pytest.raises(RunDirError, match=rf"^{run} is in use by pid {holder['pid']} "):
        train(make_cfg("multitask", out=run, **SETTINGS))
    os.killpg(proc.pid, signal.SIGINT)  # the launcher's group: what a terminal's Ctrl-C hits
    out = proc.communicate(timeout=120)[0].decode()
    # the launch as it was: its flags and process count (not a plain one-process command)
    stops = re.findall(r"^interrupted at step (\d+) \(checkpoint (\S+)\); resume with: "
                       r"accelerate launch --multi_gpu --mixed_precision no --dynamo_backend no "
                       + re.escape(" ".join(launch)) + r" -m training\.recipe\.multitask .* "
                       r"--resume$", out, re.MULTILINE)
    assert len(stops) == 1, out[-3000:]  # said once, by rank 0
    step = int(stops[0][0])
    (last,) = ckpt.list_checkpoints(run)
    assert last.name == f"step-{step}" and ckpt.read_state(last)["step"] == step
    assert (last / "rng_state_0.pt").is_file() and (last / "rng_state_1.pt").is_file()
    assert not (run / "final").exists() and not (run / ".lock").exists()
    # Both ranks exited 130; accelerate's launcher itself ends with torch's SignalException.
    assert proc.returncode != 0
