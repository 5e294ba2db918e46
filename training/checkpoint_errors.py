"""The one-line refusals of checkpoints and run folders (all :class:`CheckpointError`)."""

from __future__ import annotations

from pathlib import Path


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed: corrupt, incomplete or for another run."""


class RunDirError(CheckpointError):
    """A run folder that cannot be used as asked (finished, unwritable, unreadable files)."""


class ConfigChangeError(CheckpointError):
    """A resume whose run-defining config differs from the checkpoint's."""


def corrupt_checkpoint(path: Path, exc: BaseException) -> CheckpointError:
    """A file of the checkpoint could not be read: one line naming it and what to do."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return CheckpointError(f"checkpoint {path} is corrupt or incomplete "
                           f"({type(exc).__name__}: {first}); delete it to resume from the "
                           f"one before it")
