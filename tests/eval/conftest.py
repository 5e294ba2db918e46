"""A tiny T5 (random weights, pad never generated) built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def eval_tiny_t5(tmp_path_factory: pytest.TempPathFactory, real_data: Path) -> Path:
    from training.model.tiny_model import build_tiny_t5

    return build_tiny_t5(tmp_path_factory.mktemp("eval-tiny-t5"))
