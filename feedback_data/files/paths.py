"""Where rhf keeps downloaded and derived data (``RHF_CACHE``, default ``~/.cache/rhf``)."""

from __future__ import annotations

import os
from pathlib import Path

FEEDBACK_FILES = (
    "strategyqa/train.jsonl",
    "strategyqa/eval.jsonl",
    "sports_understanding/train.jsonl",
)


def cache_dir() -> Path:
    return Path(os.environ.get("RHF_CACHE") or Path.home() / ".cache" / "rhf").expanduser()


def bigbench_dir() -> Path:
    """BIG-bench tasks, one folder each (``<task>/task.json``, ``SOURCE.json``)."""
    return cache_dir() / "bigbench"


def feedback_raw_dir() -> Path:
    return cache_dir() / "rich-feedback-reasoning"


def imported_dir() -> Path:
    return cache_dir() / "imported"
