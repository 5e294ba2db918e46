"""A resume checks its world (issue 29, item 4): another process count, global batch,
precision or device than the checkpoint's is refused in one line naming both, unless
--allow-world-change, which run.json records with its step; the printed resume command is
the launch that started the run, flags and process count included.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.reliability.conftest import FAST, ROOT, snapshot
from training.run.checkpoint import ConfigChangeError, read_state
from training.run.run_folder import prepare_run_dir
from training.run.stop_signals import launch_words, resume_command

runner = CliRunner()
WORKER = [str(ROOT / "training" / "recipe" / "multitask.py"), "train.max_steps=4"]


# ---- the printed resume command ------------------------------------------------------------

def test_the_resume_command_is_the_launch_with_its_flags_and_process_count():
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
                "--mixed_precision", "no", "--num_processes", "2", "--main_process_port",
                "29511", "-m", "training.recipe.multitask", "train.max_steps=4"]
    assert resume_command(2, WORKER, launcher=launcher) == (
        "accelerate launch --multi_gpu --mixed_precision no --num_processes 2 "
        "--main_process_port 29511 -m training.recipe.multitask train.max_steps=4 --resume")


def test_rhf_train_under_accelerate_resumes_under_the_same_launch():
    launcher = ["/venv/bin/accelerate", "launch", "--config_file", "two.yaml", "-m", "rhf_cli",
                "train", "--objective", "refine", "--out", "runs/r"]
    argv = [str(ROOT / "rhf_cli.py"), "train", "--objective", "refine", "--out", "runs/r"]
    assert resume_command(2, argv, launcher=launcher) == (
        "accelerate launch --config_file two.yaml -m rhf_cli train --objective refine --out "
        "runs/r --resume")


def test_without_a_launcher_rhf_train_on_two_processes_is_launched_as_a_module():
    argv = [str(ROOT / "rhf_cli.py"), "train", "--out", "runs/r"]
    assert resume_command(2, argv, launcher=[]) == (
        "accelerate launch --num_processes 2 -m rhf_cli train --out runs/r --resume")


@pytest.mark.parametrize("words, launch", [
    (["/usr/bin/python3", "/venv/bin/accelerate", "launch", "--cpu", "-m", "m"],
     ["accelerate", "launch", "--cpu", "-m", "m"]),
    (["/venv/bin/torchrun", "--nproc_per_node", "2", "t.py"],
     ["torchrun", "--nproc_per_node", "2", "t.py"]),
    (["python", "-m", "torch.distributed.run", "--nproc_per_node", "2", "t.py"],
     ["torchrun", "--nproc_per_node", "2", "t.py"]),
    (["python", "-m", "pytest", "-q"], None),
    (["bash"], None),
])
def test_launch_words(words, launch):
    assert launch_words(words) == launch


def test_a_worker_reads_its_launch_from_its_parent(tmp_path):
    """A process whose parent is `accelerate launch ...` gets that line back."""
    fake = tmp_path / "accelerate"
    fake.write_text(f"#!{sys.executable}\nimport subprocess, sys\nsys.exit(subprocess.run("
                    f"[sys.executable, '-c', 'from training.run.stop_signals import "
                    f"launcher_argv; print(launcher_argv())']).returncode)\n")
    fake.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([str(fake), "launch", "--num_processes", "2", "-m", "x"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(["accelerate", "launch", "--num_processes", "2", "-m", "x"])


# ---- the world check -------------------------------------------------------------------------

def _resume_info(run: Path, **world) -> dict:
    info = json.loads((run / "run.json").read_text())
    return {**info, "started": "2026-12-07T06:00:00+00:00",
            "world": {**info["world"], **world}, "num_processes": world.get(
                "num_processes", info["num_processes"])}


def test_the_checkpoint_records_its_world(crashed_run):
    state = read_state(crashed_run / "checkpoints" / "step-2")
    assert state["world"] == {"num_processes": 1, "global_batch": 8, "precision": "no",
                              "device": "cpu"}


def test_a_resume_with_another_process_count_is_refused_naming_both(crashed_run):
    before = snapshot(crashed_run)
    with pytest.raises(ConfigChangeError) as err:
        prepare_run_dir(crashed_run, True, (crashed_run / "config.yaml").read_text(),
                        _resume_info(crashed_run, num_processes=2, global_batch=16), True)
    assert str(err.value) == (
        f"resuming {crashed_run} in another world: process count 1 (checkpoint) -> 2 (this "
        f"launch), global batch 8 (checkpoint) -> 16 (this launch); launch it as the "
        f"checkpoint was (the same process count and flags), or pass --allow-world-change to "
        f"accept the change (recorded in run.json; nothing was written)")
    assert snapshot(crashed_run) == before


@pytest.mark.parametrize("change, listed", [
    ({"precision": "bf16"}, "precision no (checkpoint) -> bf16 (this launch)"),
    ({"device": "cuda"}, "device cpu (checkpoint) -> cuda (this launch)"),
])
def test_a_resume_with_another_precision_or_device_is_refused(crashed_run, change, listed):
    with pytest.raises(ConfigChangeError) as err:
        prepare_run_dir(crashed_run, True, (crashed_run / "config.yaml").read_text(),
                        _resume_info(crashed_run, **change), True)
    assert str(err.value).startswith(f"resuming {crashed_run} in another world: {listed}; "
                                     f"launch it as the checkpoint was")


def test_an_accepted_world_change_is_recorded_with_its_step(crashed_run):
    config = (crashed_run / "config.yaml").read_text().replace(
        "allow_world_change: false", "allow_world_change: true")
    assert "allow_world_change: true" in config
    prepare_run_dir(crashed_run, True, config,
                    _resume_info(crashed_run, num_processes=2, global_batch=16), True)
    info = json.loads((crashed_run / "run.json").read_text())
    assert info["resumes"][-1]["from_step"] == 2
    assert info["resumes"][-1]["world_changes"] == {"num_processes": [1, 2],
                                                    "global_batch": [8, 16]}
    assert info["num_processes"] == 2 and info["world"]["global_batch"] == 16


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_one_process_checkpoint_resumed_on_two_processes_is_refused(crashed_run,
                                                                      rel_tiny_model):
    """The real thing: `accelerate launch --num_processes 2` on a one-process checkpoint
    stops before any step, every rank with the same line, and writes nothing."""
    before = snapshot(crashed_run)
    values = {**FAST, "train.max_steps": 4, "train.save_every": 2, "train.keep_checkpoints": 5,
              "model.name_or_path": str(rel_tiny_model), "train.output_dir": str(crashed_run),
              "train.resume": True}
    args = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in values.items()]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--mixed_precision",
         "no", "--dynamo_backend", "no", "--num_processes", "2", "--num_machines", "1",
         "--main_process_port", str(_port()), "-m", "training.recipe.refine", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    line = (f"resuming {crashed_run} in another world: process count 1 (checkpoint) -> 2 (this "
            f"launch), global batch 8 (checkpoint) -> 16 (this launch); launch it as the "
            f"checkpoint was (the same process count and flags), or pass --allow-world-change "
            f"to accept the change (recorded in run.json; nothing was written)")
    assert line in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
    assert snapshot(crashed_run) == before
