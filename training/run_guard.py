"""A training run's hold on its folder: one writer (the lock), the mark, the stop signals,
and the one-line endings (a second writer, a full disk, a second Ctrl-C).

``guard_run(run_dir)`` wraps the whole run. Rank 0 takes ``<run_dir>/.lock`` (other ranks of
a data-parallel run share the run and take nothing; a rank-0 refusal ends the launch, whose
agent stops the other ranks). A second writer is refused at once naming the holder's pid and
command; the kernel frees the lock of a killed holder. The mark (``.rhf-run``, written by
:func:`training.run_dir.prepare_run_dir` once its checks pass) names what a training run
owns, so a demo that clears a run folder deletes only those entries.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from feedback_data.disk_full import DiskFull, disk_full, is_disk_full
from feedback_data.run_mark import NotOurFolder
from feedback_data.write_lock import OutputLocked, acquire, folder_lock, release
from training.checkpoint import list_checkpoints
from training.checkpoint_errors import RunDirError
from training.stop_signals import RunInterrupted, StopSignals, resume_command

KIND = "rhf train"
# Every top-level entry a training run writes (what `rhf demo` may clear in a run folder).
OWNS = ("config.yaml", "run.json", "metrics.jsonl", "checkpoints", "final", "tensorboard",
        ".tmp-final", ".old-final", "best", ".tmp-best", ".old-best", "trackers.json",
        "wandb")


def is_main_rank() -> bool:
    """Rank 0 of a launch (``RANK`` as torchrun and accelerate set it), or a lone process."""
    return os.environ.get("RANK", "0") == "0"


def kept(run_dir: Path) -> str:
    """What a stopped run leaves to resume from."""
    latest = list_checkpoints(run_dir)
    return (f"kept checkpoint {latest[-1]} (valid)" if latest
            else "no checkpoint was written yet")


@contextlib.contextmanager
def guard_run(run_dir: Path) -> Iterator[StopSignals]:
    """Hold ``run_dir`` for a run: its lock (rank 0), SIGINT/SIGTERM as a stop after the
    current step. A full disk anywhere in the run, a second writer and a second Ctrl-C end
    it with one line (:class:`DiskFull`, :class:`RunDirError`, :class:`RunInterrupted`)."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"output folder {run_dir} is a file")
    created = not run_dir.exists()
    lock = None
    try:
        if is_main_rank():
            try:
                lock = acquire(folder_lock(run_dir), str(run_dir),
                               "wait for it to finish, or choose another --out "
                               "(nothing was written)")
            except OutputLocked as exc:
                raise RunDirError(str(exc)) from None
            except OSError as exc:
                raise RunDirError(f"cannot write to {run_dir}: {exc.strerror or exc}") from None
        with StopSignals() as stop:
            try:
                yield stop
            except KeyboardInterrupt:
                if stop.count < 2:
                    raise
                message = (f"stopped at once by a second signal; {kept(run_dir)}; resume "
                           f"with: {resume_command(_num_processes())}")
                if is_main_rank():
                    print(message, flush=True)
                raise RunInterrupted(message, stop.signum or 2) from None
    except NotOurFolder as exc:
        raise RunDirError(str(exc)) from None
    except (DiskFull, RunInterrupted, RunDirError):
        raise
    except Exception as exc:
        if not is_disk_full(exc, run_dir):
            raise
        raise disk_full(run_dir, None, f"{kept(run_dir)}; free some room, then resume with: "
                        f"{resume_command(_num_processes())}") from None
    finally:
        if lock is not None:
            release(lock)
        if created and is_main_rank():
            with contextlib.suppress(OSError):  # not empty: the run wrote something
                run_dir.rmdir()  # a run refused before writing leaves no empty folder behind


def _num_processes() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))
