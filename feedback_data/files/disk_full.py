"""A full disk, said in one line: where it ran out, how much room was needed, what was kept.

Writers catch what a full disk raises (``OSError`` ENOSPC or EDQUOT; safetensors'
``SafetensorError`` "No space left on device (os error 28)"; torch.save's ``RuntimeError``
"unexpected pos", which carries no errno and is recognised by the free space left) and turn
it into :class:`DiskFull`, whose message is the one line a command prints.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_FULL_TEXTS = ("no space left on device", "os error 28", "disk quota exceeded",
               "os error 122")
# Below this many free bytes an error without an errno (torch.save's) is taken as the disk
# being full.
NEARLY_FULL = 1 << 20


class DiskFull(OSError):
    """The disk filled while writing; ``str()`` is the whole one-line message."""

    def __init__(self, message: str, folder: Path | None = None, needed: int | None = None
                 ) -> None:
        super().__init__(errno.ENOSPC, message)
        self.message = message
        self.folder = folder
        self.needed = needed

    def __str__(self) -> str:
        return self.message


def human(n: int | float) -> str:
    """1234567 -> '1.2 MB' (decimal units, as df -H prints)."""
    n = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{int(n)} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def free_bytes(path: str | Path) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding ``path``."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return 0


def tree_size(path: str | Path) -> int:
    """Bytes of the files under ``path`` (a file's own size for a file; 0 when absent)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def is_disk_full(exc: BaseException, where: str | Path | None = None) -> bool:
    """True when ``exc`` (or what caused it) says the disk is full; with ``where``, an error
    carrying no errno counts when that filesystem has under 1 MiB free."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, OSError) and node.errno in _FULL_ERRNOS:
            return True
        if any(t in str(node).lower() for t in _FULL_TEXTS):
            return True
        node = node.__cause__ or node.__context__
    # torch.save's failure carries no errno: judged by the room left where it wrote.
    if where is not None and isinstance(exc, RuntimeError | OSError) and \
            getattr(exc, "errno", None) is None:
        return free_bytes(where) < NEARLY_FULL
    return False


def disk_full(folder: str | Path, needed: int | None, kept: str, at_least: bool = False
              ) -> DiskFull:
    """The one-line error: 'disk full in F: needs about N (M free); K' (K: what was kept);
    ``at_least`` when N is only what was written before the disk filled."""
    free = free_bytes(folder)
    need = (f"needs {'more than' if at_least else 'about'} {human(needed)}" if needed
            else "needs more room")
    return DiskFull(f"disk full in {folder}: {need} ({human(free)} free); {kept}",
                    Path(folder), needed)
