"""Fixtures for the bad-input tests: a snapshot of a folder (to show nothing was written),
a finished tiny training run built once and copied per test, small feedback records."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

# Short sequences, few records, no TensorBoard or progress bar: a step takes milliseconds.
FAST: dict[str, Any] = {
    "data.max_records": 16, "data.max_source_len": 48, "data.max_target_len": 32,
    "data.eval_fraction": 0.0, "train.batch_size": 8, "train.log_every": 1,
    "train.eval_every": 0, "train.report_to": ["jsonl"], "train.progress_bar": False,
    "train.warmup_steps": 0, "train.scheduler": "constant",
}
# The base run: refine, 4 steps, a checkpoint at steps 2 and 4, then final/.
BASE = {"train.max_steps": 4, "train.save_every": 2, "train.keep_checkpoints": 5}


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its content's sha256 ('dir' for folders)."""
    if not root.exists():
        return {}
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="session")
def rel_tiny_model(tmp_path_factory: pytest.TempPathFactory, real_data: Path) -> Path:
    from training.model.tiny_model import init_tiny

    return init_tiny(tmp_path_factory.mktemp("rel-tiny") / "model", seed=0)


@pytest.fixture
def cfg_for(rel_tiny_model: Path):
    """cfg_for(out, **overrides) -> a refine RecipeConfig on the tiny model, FAST + BASE."""
    from training.run.config_load import load_config

    def make(out: Path, **overrides: Any):
        values = {**FAST, **BASE, "model.name_or_path": str(rel_tiny_model),
                  "train.output_dir": str(out), **overrides}
        return load_config(overrides=values, objective="refine")

    return make


@pytest.fixture(scope="session")
def finished_run_template(tmp_path_factory: pytest.TempPathFactory, rel_tiny_model: Path) -> Path:
    from training.recipe.objectives import train
    from training.run.config_load import load_config

    out = tmp_path_factory.mktemp("rel-base") / "run"
    train(load_config(overrides={**FAST, **BASE, "model.name_or_path": str(rel_tiny_model),
                                 "train.output_dir": str(out)}, objective="refine"))
    return out


@pytest.fixture
def finished_run(finished_run_template: Path, tmp_path: Path) -> Path:
    """A copy of a finished run: checkpoints/step-2, checkpoints/step-4, final/."""
    run = tmp_path / "run"
    shutil.copytree(finished_run_template, run)
    return run


@pytest.fixture
def crashed_run(finished_run: Path) -> Path:
    """The same run as if killed after its step-2 checkpoint (step-4 and final/ gone)."""
    shutil.rmtree(finished_run / "checkpoints" / "step-4")
    shutil.rmtree(finished_run / "final")
    return finished_run


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    out = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update(load_file(f))
    return out


ROOT = Path(__file__).resolve().parents[2]


def launch_refine(model: Path, out: Path, **overrides: Any):
    """``python -m training.recipe.refine`` on the tiny model in a real process (FAST + BASE +
    overrides), stdout and stderr together, in its own session (signals reach it alone)."""
    import json
    import os
    import subprocess
    import sys

    values = {**FAST, **BASE, "model.name_or_path": str(model), "train.output_dir": str(out),
              **overrides}
    args = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in values.items()]
    # The test process's thread count: the weights then match an in-process run bitwise.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "training.recipe.refine", *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def wait_for(predicate, proc, timeout: float = 300, what: str = "the run") -> None:
    """Poll ``predicate`` until true; fail with the process's output if it ends first."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"{what} ended early (rc {proc.returncode}):\n"
                                 + proc.stdout.read()[-3000:])
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{what}: condition not met within {timeout} s")
        time.sleep(0.05)


def logged_steps(run: Path) -> list[int]:
    import json

    path = run / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if "train/loss" in row:
            rows.append(row["step"])
    return rows
