"""Data-parallel inference under ``accelerate launch`` (or torchrun): every process holds the
whole question list; each generate or score call cuts it into the same batches, deals them
round-robin to the processes, runs its own and gathers all results in the original order.

Every process computes the same batch plan (a pure function of the prompts), so each batch
holds exactly the prompts it holds in a single process and gives the same numbers; with
sampling seeded per prompt (:mod:`inference.sampling`), predictions do not depend on the
number of processes. Only the main process writes files. More processes than batches is fine:
the extra ones gather without generating.

A process that dies (killed, out of memory) ends the launch: the others fail in their next
gather, or on the launcher's SIGTERM, with :class:`LaunchAborted`, one line the commands print.
"""

from __future__ import annotations

import atexit
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


class LaunchAborted(RuntimeError):
    """Another process of a data-parallel launch stopped; this one cannot finish."""


@dataclass(frozen=True)
class DataParallel:
    """This process's place in a data-parallel launch (rank 0 of 1 when not launched)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def mine(self, n_batches: int) -> list[int]:
        """The batches this process runs: every ``world``-th from its rank."""
        return list(range(self.rank, n_batches, self.world))

    def gather(self, mine: dict[int, T], what: str) -> dict[int, T]:
        """Every process's results, merged (batch index -> result)."""
        if self.world == 1:
            return dict(mine)
        import torch.distributed as dist

        parts: list[Any] = [None] * self.world
        try:
            dist.all_gather_object(parts, mine)
        except Exception as exc:  # gloo raises RuntimeError / DistBackendError subclasses
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LaunchAborted(f"process {self.rank} of {self.world}: another process of this "
                                f"launch stopped during {what} ({first[:160]})") from exc
        merged: dict[int, T] = {}
        for part in parts:
            merged.update(part)
        return merged


SINGLE = DataParallel()
_CURRENT: DataParallel | None = None


def launched_world() -> int:
    """WORLD_SIZE as set by ``accelerate launch`` / torchrun (1 when not launched)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def _leave_group() -> None:
    """Leave the process group at exit, while the interpreter is whole: first a barrier, so
    that no process tears its group down while another still has work in flight on it, then
    the group, then the objects gloo's work held (freed now rather than during the
    interpreter's finalisation, when freeing them can abort the process)."""
    import gc

    import torch.distributed as dist

    if not dist.is_initialized():
        return
    try:
        dist.barrier()
    except Exception:  # noqa: BLE001 - a peer already gone: leave anyway
        pass
    dist.destroy_process_group()
    gc.collect()


def current() -> DataParallel:
    """This process's :class:`DataParallel`; under a launch of several processes, joins the
    process group (gloo: only Python objects are gathered) once and makes the launcher's
    SIGTERM raise :class:`LaunchAborted`."""
    global _CURRENT
    if _CURRENT is not None:
        return _CURRENT
    world = launched_world()
    if world == 1:
        _CURRENT = SINGLE
        return _CURRENT
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo")
        # Leave the group before the interpreter exits: a gloo group still up at exit can
        # abort the process ("terminate called without an active exception", SIGABRT)
        # after its work is done, and the launcher then reports the whole launch failed.
        atexit.register(_leave_group)
    dp = DataParallel(rank=dist.get_rank(), world=dist.get_world_size(),
                      local_rank=int(os.environ.get("LOCAL_RANK", "0")))

    def stopped(_signum: int, _frame: Any) -> None:
        raise LaunchAborted(f"process {dp.rank} of {dp.world}: stopped by the launcher (it "
                            "stops every process when one fails)")

    signal.signal(signal.SIGTERM, stopped)
    _CURRENT = dp
    return dp


def plan_batches(lengths: Sequence[int], size: int, window: int | None = None
                 ) -> list[list[int]]:
    """Batches of indices: within each window of ``window`` consecutive items (all of them
    when None), longest first (so memory fails early), ``size`` per batch.

    >>> plan_batches([1, 5, 3, 2], 2)
    [[1, 2], [3, 0]]
    >>> plan_batches([1, 5, 3, 2], 2, window=2)
    [[1, 0], [2, 3]]
    """
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    n = len(lengths)
    step = window if window else max(n, 1)
    batches: list[list[int]] = []
    for start in range(0, n, step):
        idx = sorted(range(start, min(n, start + step)), key=lambda i: -lengths[i])
        batches += [idx[b:b + size] for b in range(0, len(idx), size)]
    return batches


def run_batches(dp: DataParallel, batches: Sequence[list[int]],
                fn: Callable[[list[int]], list[T]], n_items: int, what: str,
                progress: Callable[[list[int]], Any] = lambda b: b) -> list[T]:
    """``fn(batch) -> one result per index`` over this process's batches, gathered: one result
    per item, in the items' original order."""
    mine = {b: fn(batches[b]) for b in progress(dp.mine(len(batches)))}
    merged = dp.gather(mine, what)
    out: list[Any] = [None] * n_items
    for b, idx in enumerate(batches):
        for i, result in zip(idx, merged[b], strict=True):
            out[i] = result
    return out
