"""BIG-bench tasks by name, out of the ``bigbench==1.0.0`` sdist the data fetch keeps.

The first time a task is asked for, its ``task.json`` is extracted into the cache next to the
built-in tasks' files (atomically), so every later read is offline and fast.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterable
from pathlib import Path

from feedback_data import paths
from feedback_data.jsonl import DataError, write_bytes

SDIST_PREFIX = "bigbench-1.0.0/bigbench/benchmark_tasks/"


def bigbench_task_file(name: str) -> Path:
    """The cached ``<name>/task.json`` of a BIG-bench task, extracted from the kept sdist the
    first time it is asked for."""
    extract_bigbench_tasks([name])
    return paths.bigbench_dir() / name / "task.json"


def _check_name(name: str) -> None:
    parts = name.split("/")
    if not name or len(parts) > 2 or any(p in ("", ".", "..") or not all(
            c.isalnum() or c in "_-" for c in p) for p in parts):
        raise DataError(f"'{name}' is not a BIG-bench task name (e.g. date_understanding, "
                        "logical_deduction/three_objects)")


def extract_bigbench_tasks(names: Iterable[str]) -> None:
    """Extract the task.json of each of ``names`` not cached yet, in one pass over the sdist."""
    names = list(dict.fromkeys(names))
    for name in names:
        _check_name(name)
    todo = [n for n in names if not (paths.bigbench_dir() / n / "task.json").is_file()]
    if not todo:
        return
    sdist = paths.bigbench_sdist()
    if not sdist.is_file():
        raise DataError(f"BIG-bench task {todo[0]!r} is not in the cache and the source "
                        f"distribution ({sdist}) is not either: run `rhf data fetch`")
    wanted = {f"{SDIST_PREFIX}{n}/task.json": n for n in todo}
    subtasks: dict[str, list[str]] = {n: [] for n in todo}
    found: set[str] = set()
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar:
            if not member.name.startswith(SDIST_PREFIX) or not member.isfile():
                continue
            rel = member.name[len(SDIST_PREFIX):]
            for n in todo:
                if rel.startswith(n + "/") and rel.endswith("/task.json") \
                        and rel.count("/") == n.count("/") + 2:
                    subtasks[n].append(rel.split("/")[-2])
            name = wanted.get(member.name)
            if name is None:
                continue
            src = tar.extractfile(member)
            assert src is not None
            with src:
                write_bytes(paths.bigbench_dir() / name / "task.json", src.read())
            found.add(name)
    missing = [n for n in todo if n not in found]
    if missing:
        raise DataError(f"no BIG-bench task {missing[0]!r} in bigbench 1.0.0")
    for name in todo:
        if subtasks[name] and not json.loads(
                (paths.bigbench_dir() / name / "task.json").read_text()).get("examples"):
            raise DataError(f"BIG-bench task {name!r} is split into subtasks: name one, e.g. "
                            + ", ".join(f"{name}/{s}" for s in sorted(subtasks[name])))
