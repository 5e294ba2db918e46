"""Room on the disk for a checkpoint: a warning before a save that may not fit, one line
when one did not.

Before each checkpoint (and ``final/``) the free space is compared with the size of the
last checkpoint, and a warning printed when it is less. When the disk fills during the save
the half-written temporary folder is removed, the previous checkpoint stays whole (saves go
to a temporary folder renamed at the end), and :class:`~feedback_data.files.disk_full.DiskFull`
says where, how much room was needed and what was kept.
"""

from __future__ import annotations

import functools
import inspect
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from feedback_data.files.disk_full import disk_full, free_bytes, human, is_disk_full, tree_size
from training.run.stop_signals import resume_command

F = TypeVar("F", bound=Callable[..., Any])
# Files of a checkpoint that final/ does not have.
_TRAINING_STATE = ("optimizer.pt", "scheduler.pt", "rng_state_", "accelerate_state")


def expected_size(previous: Path | None, what: str) -> int | None:
    """The bytes the next save will take, judged by the last checkpoint (None without one)."""
    if previous is None or not previous.is_dir():
        return None
    if what == "checkpoint":
        return tree_size(previous)
    return sum(tree_size(p) for p in previous.iterdir()
               if not p.name.startswith(_TRAINING_STATE))


def state_bytes(model: Any, optimizer: Any) -> int:
    """Bytes of the weights and the optimizer's state: a first checkpoint's size, roughly."""
    total = 0
    for p in getattr(model, "parameters", lambda: [])():
        total += p.numel() * p.element_size()
    for state in getattr(optimizer, "state", {}).values():
        for v in state.values() if isinstance(state, dict) else []:
            if hasattr(v, "numel"):
                total += v.numel() * v.element_size()
    return total


def room_checked(what: str, tmp: Callable[[dict[str, Any]], Path],
                 previous: Callable[[dict[str, Any]], Path | None]) -> Callable[[F], F]:
    """Decorate a save (``run_dir``, ``accelerator`` among its arguments): warn when the free
    space is under the last checkpoint's size; on a full disk remove ``tmp`` (the
    half-written folder) and raise DiskFull naming the folder, the bytes and what was kept."""

    def wrap(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def save(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs).arguments
            accelerator, half = bound["accelerator"], tmp(bound)
            last = previous(bound)
            expected = expected_size(last, what)
            where = half.parent
            free = free_bytes(where)
            if accelerator.is_main_process and expected is not None and free < expected:
                print(f"warning: {where} has {human(free)} free; the last checkpoint took "
                      f"{human(expected)}: the next {what} may not fit (free some room)",
                      file=sys.stderr, flush=True)
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if not is_disk_full(exc, where):
                    raise
                needed = expected or state_bytes(bound.get("model"), bound.get("optimizer"))
                if accelerator.is_main_process:
                    shutil.rmtree(half, ignore_errors=True)
                kept = (f"kept {last} (valid)" if last is not None else "no checkpoint kept")
                raise disk_full(where, needed, f"{kept}, removed the half-written {half.name}; "
                                f"free some room, then resume with: "
                                f"{resume_command(accelerator.num_processes)}") from None

        return save  # type: ignore[return-value]

    return wrap
