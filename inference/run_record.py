"""``OUT.run.json`` next to what `rhf infer` and `rhf chains generate` write: the models with
their dtype and device, the number of processes, the parameters and the commit, so an output
file says how it was made. A chains file grows over resumed runs, so its record lists every run
that appended to it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedback_data.errors import DataError
from feedback_data.files.io import write_json
from feedback_data.records.provenance import commit_info


def run_record_path(out: str | Path) -> Path:
    """chains.jsonl -> chains.run.json (beside it)."""
    out = Path(out)
    return out.with_name(out.stem + ".run.json")


def describe(backend: Any) -> dict[str, Any]:
    """What a loaded model says about itself, for a record: spec, path, dtype, device."""
    info = getattr(backend, "info", None) or {}
    return {"spec": backend.name, "path": info.get("path"), "dtype": info.get("dtype"),
            "device": info.get("device"), "peft": info.get("peft")}


def read_runs(out: str | Path) -> list[dict[str, Any]]:
    """The runs ``OUT.run.json`` lists ([] when there is none); a corrupt one is an error."""
    path = run_record_path(out)
    if not path.is_file():
        return []
    try:
        runs = json.loads(path.read_text(encoding="utf-8")).get("runs")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        runs = None
    if not isinstance(runs, list):
        raise DataError(f"{path}: not a run record (expected JSON with a 'runs' list); move "
                        "it away to start a new one")
    return runs


def write_run_record(out: str | Path, command: str, models: dict[str, Any],
                     num_processes: int, params: dict[str, Any], append: bool = False) -> Path:
    """Write (``append``: add this run to) ``OUT.run.json``; atomic."""
    path = run_record_path(out)
    run = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "command": command,
           "models": {role: describe(b) for role, b in models.items()},
           "num_processes": num_processes, "params": params, "code": commit_info()}
    runs = read_runs(out) if append else []
    write_json(path, {"output": Path(out).name, "runs": [*runs, run]})
    return path
