"""Where rhf keeps downloaded and derived data (``RHF_CACHE``, default ``~/.cache/rhf``)."""

from __future__ import annotations

import os
from pathlib import Path

BIGBENCH_TASK_FILES = (
    "strategyqa/task.json",
    "sports_understanding/task.json",
    "sports_understanding/vocab.json",
)
FEEDBACK_FILES = (
    "strategyqa/train.jsonl",
    "strategyqa/eval.jsonl",
    "sports_understanding/train.jsonl",
)


def cache_dir() -> Path:
    return Path(os.environ.get("RHF_CACHE") or Path.home() / ".cache" / "rhf").expanduser()


def bigbench_dir() -> Path:
    return cache_dir() / "bigbench-1.0.0"


def bigbench_sdist() -> Path:
    """The checked ``bigbench==1.0.0`` sdist, kept so that any of its tasks can be extracted
    by name (feedback_data.tasks.loaders) without downloading again."""
    return cache_dir() / "bigbench-1.0.0.tar.gz"


def feedback_raw_dir() -> Path:
    return cache_dir() / "rich-feedback-reasoning"


def imported_dir() -> Path:
    return cache_dir() / "imported"
