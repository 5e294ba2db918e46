"""The mark of a folder rhf wrote (``.rhf-run``): a command deletes only what it wrote.

A command that writes a folder marks it with ``.rhf-run`` (JSON): the command line and
commit that made it, its kind (``rhf demo``, ``rhf train``, ``rhf eval``) and the entries
it owns (top-level names such as ``checkpoints`` or ``report.json``). Clearing a folder
(``rhf demo --fresh``, a demo training stage whose inputs changed) is refused, in one line,
when the folder has no mark, a mark of another kind, or an entry the mark does not own (the
user's notes); otherwise only the owned entries go, and the mark and lock stay. A marked
folder inside an owned entry (a training run inside the demo's folder) is checked the same
way. Writing into an unmarked folder is refused when it would overwrite a file of the
same name as one the command writes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedback_data.files.io import write_json
from feedback_data.files.write_lock import LOCK_NAME, command_line

MARK_NAME = ".rhf-run"
# Never owned, never foreign: the mark itself, the lock, and atomic writes' temporary files.
_OWN_FILES = frozenset({MARK_NAME, LOCK_NAME})


class NotOurFolder(RuntimeError):
    """A folder rhf did not make (or holding files it did not write): refused, one line."""


def read_mark(folder: str | Path) -> dict[str, Any] | None:
    """The folder's mark, or None when it has none (or an unreadable one)."""
    path = Path(folder) / MARK_NAME
    try:
        mark = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return mark if isinstance(mark, dict) and isinstance(mark.get("owns"), list) else None


def _is_scratch(name: str) -> bool:
    """A temporary file of an atomic write (``.name.tmp``, ``.name.XXXX.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp")


def check_claim(folder: str | Path, kind: str, owns: Iterable[str], adopt: bool = False
                ) -> None:
    """Refuse (:class:`NotOurFolder`, nothing written) to write ``owns`` into an unmarked
    folder that already holds an entry of one of those names: it would overwrite a file rhf
    did not write. ``adopt`` accepts such a folder when the caller knows it for its own
    from before marks existed (a training run's run.json)."""
    folder = Path(folder)
    if adopt or read_mark(folder) is not None:
        return
    present = sorted(n for n in dict.fromkeys(owns) if (folder / n).exists())
    if present:
        shown = ", ".join(present[:3]) + (" ..." if len(present) > 3 else "")
        raise NotOurFolder(f"{folder} holds {shown} but no {MARK_NAME} mark: {kind} did not "
                           f"write it and will not overwrite it; choose another output folder "
                           f"(nothing was written)")


def claim(folder: str | Path, kind: str, owns: Iterable[str], commit: str | None = None,
          adopt: bool = False, ahead: bool = False) -> dict[str, Any]:
    """Mark ``folder`` as written by ``kind`` owning ``owns`` (merged into an existing mark,
    whose kind stays), after :func:`check_claim`; returns the mark. ``ahead``: a launcher
    claims the folder for the command it starts there next, which takes the claim over
    with :func:`take_over` instead of claiming again (one history entry, not two)."""
    folder = Path(folder)
    check_claim(folder, kind, owns, adopt)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    mark = read_mark(folder) or {"kind": kind, "command": command_line(), "commit": commit,
                                 "created": now, "owns": []}
    history = [*mark.get("history", []), {"kind": kind, "command": command_line(),
                                          "commit": commit, "time": now}]
    mark["history"] = history[-20:]
    mark["owns"] = list(dict.fromkeys([*mark["owns"], *owns]))
    if ahead:
        mark["claimed_ahead"] = kind
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / MARK_NAME, mark)
    return mark


def take_over(folder: str | Path, kind: str) -> bool:
    """True, and the mark's ``claimed_ahead`` cleared, when a launcher claimed ``folder``
    ahead for a ``kind`` command (:func:`claim` with ``ahead``): the command starting there
    now is that one, and claims nothing again. False when no such claim is pending."""
    folder = Path(folder)
    mark = read_mark(folder)
    if not mark or mark.get("claimed_ahead") != kind:
        return False
    del mark["claimed_ahead"]
    write_json(folder / MARK_NAME, mark)
    return True


def foreign_entries(folder: str | Path, mark: dict[str, Any] | None = None) -> list[str]:
    """Paths under ``folder`` (relative) that its mark does not own. A marked folder inside
    an owned entry is checked by its own mark; an unmarked one is owned whole."""
    folder = Path(folder)
    mark = read_mark(folder) if mark is None else mark
    owned = set(mark["owns"]) if mark else set()
    out: list[str] = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        name = entry.name
        if name in _OWN_FILES or _is_scratch(name):
            continue
        if name not in owned:
            out.append(name)
        elif entry.is_dir() and not entry.is_symlink():
            out += [f"{name}/{p}" for p in _foreign_below(entry)]
    return out


def _foreign_below(folder: Path) -> list[str]:
    """Foreign entries of the marked folders anywhere below ``folder``."""
    if read_mark(folder) is not None:
        return foreign_entries(folder)
    out: list[str] = []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            out += [f"{entry.name}/{p}" for p in _foreign_below(entry)]
    return out


def check_clearable(folder: str | Path, kind: str, assume: dict[str, Any] | None = None
                    ) -> dict[str, Any] | None:
    """Raise :class:`NotOurFolder` unless ``kind`` may clear ``folder``; returns its mark
    (None for a folder that does not exist or is empty). ``assume`` stands in for the mark
    of a folder the caller recognises as its own from before marks existed."""
    folder = Path(folder)
    if not folder.exists():
        return None
    if not folder.is_dir():
        raise NotOurFolder(f"refusing to clear {folder}: it is a file, not a folder rhf made "
                           f"(nothing was deleted)")
    mark = read_mark(folder) or assume
    if mark is None:
        if not any(e.name not in _OWN_FILES for e in folder.iterdir()):
            return None
        raise NotOurFolder(f"refusing to clear {folder}: it has no {MARK_NAME} mark, so {kind} "
                           f"did not make it; choose another output folder, or empty it "
                           f"yourself (nothing was deleted)")
    if mark.get("kind") != kind:
        raise NotOurFolder(f"refusing to clear {folder}: {mark.get('kind')} made it, not "
                           f"{kind} (nothing was deleted)")
    foreign = foreign_entries(folder, mark)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3
                                          else "")
        raise NotOurFolder(f"refusing to clear {folder}: it holds files {kind} did not write "
                           f"({shown}); move them out first (nothing was deleted)")
    return mark


def clear(folder: str | Path, kind: str, assume: dict[str, Any] | None = None) -> list[str]:
    """Delete what ``kind`` wrote in ``folder`` (its mark's entries), after
    :func:`check_clearable`; the mark and the lock stay. Returns the names deleted."""
    folder = Path(folder)
    mark = check_clearable(folder, kind, assume)
    if mark is None:
        return []
    gone = []
    for name in mark["owns"]:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        gone.append(name)
    return gone
