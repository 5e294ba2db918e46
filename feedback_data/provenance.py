"""Provenance: which code made a run, and which model version answered.

Stamped into run.json, checkpoints, reports and every prediction, so a result explains itself.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from feedback_data.schema import stable_id


def git_commit() -> str | None:
    """The toolkit's commit (with '-dirty' when files differ from it), or None outside git.

    Outside a git checkout (a copy of the tree sent to another machine) ``RHF_GIT_COMMIT``
    names it.
    """
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists() and os.environ.get("RHF_GIT_COMMIT"):
        return os.environ["RHF_GIT_COMMIT"]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("-dirty" if dirty.strip() else "")


def commit_info() -> dict[str, Any]:
    """The commit the report was made at, and whether tracked files differed from it."""
    sha = git_commit()
    if sha is None:
        return {"commit": None, "dirty": None}
    return {"commit": sha.removesuffix("-dirty"), "dirty": sha.endswith("-dirty")}


def model_version(backend: Any) -> str:
    """'<folder>@<commit or id>': stamped on every answer and Label Studio prediction."""
    info = backend.info
    run = info.get("run") or {}
    commit = str(run.get("git_commit") or run.get("commit") or "")[:10]
    tag = commit or stable_id(str(info.get("path")), str(run), n=10)
    return f"{str(info.get('path', backend.name)).rstrip('/').split('/')[-1]}@{tag}"
