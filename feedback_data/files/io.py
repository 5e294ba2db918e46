"""Writing files so that nothing is half-written, and reading text so that bad bytes are one
clear error.

Every write here goes to a temporary file beside the target that is fsynced and renamed
(folders are staged beside theirs and swapped in), and a full disk is one line
(:class:`~feedback_data.files.disk_full.DiskFull`): where, how many bytes were needed, and
that the target was left as it was. Reading a text file that is not UTF-8 is one error naming
the file and the byte offset (Python's own error names neither the file nor, readably, the
place).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from feedback_data.errors import DataError
from feedback_data.files.disk_full import DiskFull, disk_full, is_disk_full


class NotOurs(DataError):
    """A folder in the way of a write that the writer did not make: it is never replaced."""



def _temp_beside(path: Path) -> str:
    """A new empty file ``.<name>.<random>.tmp`` beside ``path``, with the permissions a plain
    ``open`` gives (the umask's; mkstemp's would be 0600, unreadable to the group)."""
    while True:
        tmp = str(path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp"))
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    The toolkit's one atomic write: every writer of a result file (text, JSONL, a dataset
    or model folder through :func:`atomic_folder` / :func:`replace_folder`) goes through
    here or :func:`write_bytes`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(path)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_folder(path: str | Path, ours: Any = None) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` (an old
    ``path`` is moved aside first, then deleted). On failure it is removed and ``path`` stays
    as it was; a full disk is :class:`DiskFull` (needing at least what was staged).

    An existing ``path`` is replaced only when it is an empty folder or ``ours(path)`` says
    this writer made it (e.g. :func:`is_saved_dataset`); anything else is :class:`NotOurs`,
    raised before any work, and left as it was."""
    import shutil

    path = Path(path)
    check_replaceable(path, ours)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        try:
            yield staged / "out"
        except DiskFull:
            raise
        except Exception as exc:
            if not is_disk_full(exc, path.parent):
                raise
            from feedback_data.files.disk_full import tree_size

            raise disk_full(path.parent, tree_size(staged),
                            f"{path} was left as it was (the half-written copy was removed)",
                            at_least=True) from None
        replace_folder(staged / "out", path)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def check_replaceable(path: Path, ours: Any = None) -> None:
    """Raise :class:`NotOurs` unless ``path`` is absent, an empty folder, or ``ours(path)``."""
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir() and not path.is_symlink() and (
            not any(path.iterdir()) or (ours is not None and ours(path))):
        return
    raise NotOurs(f"{path} is in the way and was not written by this command: it was left "
                  "as it is; choose another output or remove it yourself")


def replace_folder(staged: str | Path, path: str | Path, aside: str | Path | None = None
                   ) -> None:
    """Put the finished folder ``staged`` at ``path`` (same filesystem): an older ``path`` is
    moved aside first (to ``aside``, by default ``.<name>.old``), then deleted, and the parent
    is fsynced so the rename outlives a crash. For a folder staged where the context manager
    :func:`atomic_folder` cannot be used (every rank of a launch writing into it)."""
    import shutil

    staged, path = Path(staged), Path(path)
    old = Path(aside) if aside is not None else path.with_name(f".{path.name}.old")
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)
        if path.is_dir():
            os.replace(path, old)
        else:
            path.unlink()
    os.replace(staged, path)
    shutil.rmtree(old, ignore_errors=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def said_when_full(path: Path, needed: int, kept: str) -> Iterator[None]:
    """A full disk while writing ``path`` becomes DiskFull (bytes ``needed``, ``kept``)."""
    try:
        yield
    except DiskFull:
        raise
    except OSError as exc:
        if not is_disk_full(exc, path.parent):
            raise
        raise disk_full(path.parent, needed, kept) from None


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    with said_when_full(path, len(data), f"{path} was left as it was"):
        with atomic_path(path) as tmp, tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes (hex), read a MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class NotUtf8(ValueError):
    """A file that is not UTF-8 text; ``str()`` names the file, the byte and its offset."""


def read_utf8(path: str | Path) -> str:
    """The text of ``path``; NotUtf8 ('PATH: not UTF-8 text (byte 0x89 at offset 0)') for
    bytes that do not decode. OSError passes through for the caller to word."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUtf8(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                      f"{exc.start})") from None
