"""BIG-bench tasks by name (``loader: {bigbench: NAME}``), from the same sources as the data.

The first time a task is asked for, ``NAME/task.json`` is read from the first source that has
it (feedback_data.sources.task_sources: local folders, then BIG-bench's public raw files) and
stored in the cache with its provenance, so every later read is offline and fast.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from feedback_data.errors import DataError
from feedback_data.files import paths
from feedback_data.sources.task_sources import SourceError, check_name


def bigbench_task_file(name: str) -> Path:
    """The cached ``<name>/task.json`` of a BIG-bench task, fetched the first time."""
    fetch_bigbench_tasks([name])
    return paths.bigbench_dir() / name / "task.json"


def fetch_bigbench_tasks(names: Iterable[str]) -> None:
    """Fetch each of ``names`` not cached yet; one clear error for the first that fails."""
    from feedback_data.sources.fetch import FetchError, fetch_task

    for name in dict.fromkeys(names):
        try:
            check_name(name)
        except SourceError as exc:
            raise DataError(str(exc)) from None
        if (paths.bigbench_dir() / name / "task.json").is_file():
            continue
        try:
            fetch_task(name, log=lambda _m: None)
        except FetchError as exc:
            raise DataError(str(exc)) from None
