"""Session set-up shared by every test: the real datasets in the rhf cache.

BIG-bench comes from PyPI (pinned sha256) and the paper's feedback from RHF_FEEDBACK_SOURCE,
defaulting to the workspace's shared copy; both are fetched once per cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_FEEDBACK = ROOT.parent / "shared" / "data" / "rich-feedback-reasoning"


@pytest.fixture(scope="session", autouse=True)
def real_data() -> Path:
    """Fetch (once) and import the real data; every test may use it."""
    from feedback_data import paths
    from feedback_data.fetch import fetch_bigbench, fetch_feedback
    from feedback_data.store import import_paper_feedback

    source = os.environ.get("RHF_FEEDBACK_SOURCE") or str(SHARED_FEEDBACK)
    fetch_bigbench(log=lambda _m: None)
    fetch_feedback(source, log=lambda _m: None)
    import_paper_feedback(log=lambda _m: None)
    return paths.cache_dir()


@pytest.fixture(scope="session")
def raw_feedback_dir(real_data: Path) -> Path:
    from feedback_data import paths

    return paths.feedback_raw_dir()


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory, real_data: Path) -> Path:
    """A two-layer random Llama with the project's tiny tokenizer, saved once per session
    (the decoder-only stand-in for the causal tests)."""
    from training.tiny_model import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama") / "model", seed=0)
