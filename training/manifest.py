"""A folder's ``manifest.json``: the sha256 of every file, written last when the folder is
saved (a checkpoint, ``final/``) and checked before it is trusted again."""

from __future__ import annotations

import json
from pathlib import Path

from feedback_data.fetch import sha256_file
from training.atomic_files import atomic_write_text
from training.checkpoint_errors import CheckpointError

MANIFEST_FILE = "manifest.json"


def write_manifest(folder: Path) -> None:
    """``manifest.json``: {"files": {relative path: sha256}} of every file in ``folder``."""
    files = {p.relative_to(folder).as_posix(): sha256_file(p)
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST_FILE
             and not p.name.endswith(".tmp")}
    atomic_write_text(folder / MANIFEST_FILE, json.dumps({"files": files}, indent=2) + "\n")


def verify_checkpoint(path: Path, what: str = "checkpoint",
                      hint: str = "; delete it to resume from the checkpoint before it") -> int:
    """Every file listed in the manifest is there with its recorded sha256, else one line
    naming ``what`` (a checkpoint, a final folder) and ending with ``hint``. Returns how many
    files were checked."""
    try:
        files = json.loads((path / MANIFEST_FILE).read_text())["files"]
        if not isinstance(files, dict):
            raise ValueError("'files' is not a mapping")
    except FileNotFoundError:
        raise CheckpointError(f"{what} {path} has no {MANIFEST_FILE} (incomplete, or "
                              f"written before rhf recorded checksums){hint}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{what} {path}: {MANIFEST_FILE} is unreadable "
                              f"({type(exc).__name__}: {exc}){hint}") from None
    for rel, digest in files.items():
        f = path / rel
        if not f.is_file():
            raise CheckpointError(f"{what} {path} is missing {rel}{hint}")
        if sha256_file(f) != digest:
            raise CheckpointError(f"{what} {path}: {rel} does not match the sha256 "
                                  f"recorded when it was saved (corrupt){hint}")
    return len(files)


def update_manifest(folder: Path, rel: str) -> None:
    """Record the current sha256 of one file (``rel``) in ``folder``'s manifest, e.g. after
    the model card is written or appended to; the other entries are kept as they are."""
    path = folder / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
        if not isinstance(files, dict):
            raise ValueError("'files' is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{folder}: {MANIFEST_FILE} is unreadable "
                              f"({type(exc).__name__}: {exc})") from None
    files[rel] = sha256_file(folder / rel)
    manifest["files"] = dict(sorted(files.items()))
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")
