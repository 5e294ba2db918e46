"""Provenance: which code made a run, and which model version answered.

Stamped into run.json, checkpoints, reports and every prediction, so a result explains itself.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from feedback_data.records.schema import stable_id


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


def weights_digest(backend: Any) -> str | None:
    """sha256 of the weights a backend serves: over its folder's weight files (name and
    sha256 of each, plus an adapter's base model), else over the loaded tensors; None for
    a stand-in that has no weights."""
    import hashlib
    import json
    from pathlib import Path

    from feedback_data.files.io import sha256_file

    digest = hashlib.sha256()
    folder = Path(str(backend.info.get("path", ""))) if getattr(backend, "info", None) else None
    files = sorted(f for pattern in ("*.safetensors", "*.bin") for f in folder.glob(pattern)
                   ) if folder is not None and folder.is_dir() else []
    if files:
        for f in files:
            digest.update(f"{f.name}:{sha256_file(f)}\n".encode())
        adapter = folder / "adapter_config.json"
        if adapter.is_file():
            base = json.loads(adapter.read_text()).get("base_model_name_or_path") or ""
            digest.update(f"base:{base}\n".encode())
        return digest.hexdigest()
    model = getattr(backend, "model", None)
    if model is None or not hasattr(model, "state_dict"):
        return None
    import torch

    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def model_version(backend: Any) -> str:
    """'<folder>@<sha256 of the weights, 12 hex>': stamped on every answer and Label Studio
    prediction, so two different checkpoints never share a version. A stand-in without
    weights falls back to its run's commit."""
    info = getattr(backend, "info", None) or {}
    name = str(info.get("path", backend.name)).rstrip("/").split("/")[-1]
    weights = weights_digest(backend)
    if weights is not None:
        return f"{name}@{weights[:12]}"
    run = info.get("run") or {}
    commit = str(run.get("git_commit") or run.get("commit") or "")[:10]
    return f"{name}@{commit or stable_id(str(info.get('path')), str(run), n=10)}"
