"""One writer per output: an advisory lock (``fcntl.flock``) held while a command writes.

A run folder is locked through ``<folder>/.lock``, a single output file or dataset folder
through ``.<name>.lock`` beside it. The holder writes its pid and command line into the lock
file, so a second writer fails at once with one line naming them. The kernel releases a
flock when its holder dies, even by ``kill -9``: a lock file left behind never blocks the
next run. The lock belongs to a process: taking it again in the process that holds it
nests (the demo locks its folder and evaluates into it), and the last release unlocks it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

LOCK_NAME = ".lock"


class OutputLocked(RuntimeError):
    """Another process holds the output's lock; the message names it."""


_COMMAND: list[list[str]] = []  # set by a command shell that knows its own line


@contextlib.contextmanager
def command_as(words: list[str]) -> Iterator[None]:
    """Within the block, :func:`command_line` is ``words`` (a command shell invoked in-process,
    e.g. by a test runner, knows its line better than ``sys.argv``)."""
    _COMMAND.append(list(words))
    try:
        yield
    finally:
        _COMMAND.pop()


def command_line(argv: list[str] | None = None) -> str:
    """This process's command as a user would type it: ``rhf train --out R ...``."""
    if argv is None and _COMMAND:
        return shlex.join(_COMMAND[-1])
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return "python"
    head = Path(argv[0])
    if argv[0] == "-c":  # python -c CODE ARGS (the code itself is not shown)
        return shlex.join(["python", "-c", "...", *argv[1:]])
    if head.name in ("rhf", "rhf_cli.py"):  # the console script, or python -m rhf_cli
        return shlex.join(["rhf", *argv[1:]])
    if head.suffix == ".py" and (head.parent / "__init__.py").exists():
        # python -m training.recipe.multitask ... (sys.argv[0] is the module's file): the
        # dotted name climbs every enclosing package
        parts, folder = [head.stem], head.parent
        while folder.name and (folder / "__init__.py").exists():
            parts.insert(0, folder.name)
            folder = folder.parent
        return shlex.join(["python", "-m", ".".join(parts), *argv[1:]])
    return shlex.join([head.name, *argv[1:]])


def folder_lock(folder: str | Path) -> Path:
    """The lock file of a run folder: ``<folder>/.lock``."""
    return Path(folder) / LOCK_NAME


def file_lock(path: str | Path) -> Path:
    """The lock file of one output file or dataset folder: ``.<name>.lock`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@dataclass
class _Held:
    fd: int
    count: int


_HELD: dict[str, _Held] = {}
_REGISTRY = threading.Lock()


def _holder(path: Path) -> str:
    """'pid 123 (rhf train --out R, started 2026-...)' from the lock file, as far as known."""
    for _ in range(20):  # the holder writes right after locking: give it a moment
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            return (f"pid {info['pid']} on {info.get('host', '?')} ({info['command']}, "
                    f"started {info.get('started', '?')})")
        except (OSError, ValueError, KeyError, TypeError):
            time.sleep(0.01)
    return "another process (its pid could not be read)"


def _acquire(path: Path, what: str, hint: str) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputLocked(f"{what} is in use by {_holder(path)}; {hint}") from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the previous holder removed the file between our open and our lock


def _write_holder(fd: int) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command_line(),
            "started": datetime.now(UTC).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)


def acquire(lock_file: str | Path, what: str, hint: str | None = None) -> Path:
    """Take ``lock_file`` (see :func:`folder_lock`, :func:`file_lock`) for this process.

    Raises :class:`OutputLocked` at once, naming the holder, when another process holds it;
    ``what`` names the output in that message. Pair with :func:`release`, or use
    :func:`hold`.
    """
    path = Path(lock_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    with _REGISTRY:
        held = _HELD.get(key)
        if held is not None:
            held.count += 1
            return path
        fd = _acquire(path, what, hint or "wait for it to finish, or choose another output "
                                          "(nothing was written)")
        try:
            _write_holder(fd)
        except OSError:  # a full disk must not stop the lock itself from working
            pass
        _HELD[key] = _Held(fd, 1)
    return path


def release(lock_file: Path) -> None:
    """Undo one :func:`acquire`; the last one removes the lock file and unlocks."""
    key = str(Path(lock_file).resolve())
    with _REGISTRY:
        held = _HELD.get(key)
        if held is None:
            return
        held.count -= 1
        if held.count > 0:
            return
        del _HELD[key]
        with contextlib.suppress(OSError):
            os.unlink(lock_file)  # still locked: a newcomer opening it now retries
        os.close(held.fd)  # closing the last descriptor releases the flock


def holds(lock_file: str | Path) -> bool:
    """True when this process holds ``lock_file``."""
    return str(Path(lock_file).resolve()) in _HELD


@contextlib.contextmanager
def hold(lock_file: str | Path, what: str, hint: str | None = None) -> Iterator[Path]:
    """``with hold(folder_lock(out), str(out)): ...`` — the lock for the block."""
    path = acquire(lock_file, what, hint)
    try:
        yield path
    finally:
        release(path)
