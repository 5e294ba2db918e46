"""Tiny models built once per session: a seq2seq T5 and a causal GPT-2 (random weights)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory: pytest.TempPathFactory, real_data: Path) -> Path:
    from training.model.tiny_model import build_tiny_t5

    return build_tiny_t5(tmp_path_factory.mktemp("tiny-t5"))


@pytest.fixture(scope="session")
def tiny_causal(tiny_t5: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.model.tiny_model import build_tiny_causal

    return build_tiny_causal(tiny_t5, tmp_path_factory.mktemp("tiny-gpt"))
