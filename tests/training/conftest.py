"""Fixtures for the training tests: a tiny T5 built once per session, fast run settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

# Short sequences, few records, metrics.jsonl only, no progress bar: a step takes milliseconds.
FAST: dict[str, Any] = {
    "data.max_records": 24, "data.max_source_len": 64, "data.max_target_len": 48,
    "data.eval_fraction": 0.0, "train.batch_size": 8, "train.log_every": 1,
    "train.eval_every": 0, "train.save_every": 0, "train.report_to": ["jsonl"],
    "train.progress_bar": False, "train.warmup_steps": 1, "train.validate": False,
}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, real_data: Path) -> Path:
    from training.model.tiny_model import init_tiny

    return init_tiny(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture
def make_cfg(tiny_model: Path, tmp_path: Path):
    """make_cfg(objective, out=..., **overrides) -> RecipeConfig on the tiny model."""
    from training.run.config_load import load_config

    def make(objective: str = "multitask", out: Path | None = None, **overrides: Any):
        values = {**FAST, "model.name_or_path": str(tiny_model),
                  "train.output_dir": str(out or tmp_path / "run"), **overrides}
        return load_config(overrides=values, objective=objective)

    return make


def weights(folder: Path) -> dict:
    """Every tensor in a saved folder (full model or adapter)."""
    out = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update(load_file(f))
    return out
