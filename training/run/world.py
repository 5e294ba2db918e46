"""A run's world: how many processes train it, the global batch they make, the precision and
the device. A checkpoint records the world that wrote it; a resume in another world (a
different process count halves or doubles the batch of every later step) is refused in one
line naming both, unless ``train.allow_world_change`` (``--allow-world-change``) accepts it,
and then run.json records the change and the step it took effect.
"""

from __future__ import annotations

from typing import Any

# The keys of a world, and how a message names each.
WORLD_NAMES = {"num_processes": "process count", "global_batch": "global batch",
               "precision": "precision", "device": "device"}


def run_world(num_processes: int, batch_size: int, grad_accum: int, precision: str,
              device: str) -> dict[str, Any]:
    """The world of this launch; the global batch is the pairs one optimizer step reads
    (per-process batch x gradient accumulation x processes)."""
    return {"num_processes": num_processes,
            "global_batch": batch_size * grad_accum * num_processes,
            "precision": precision, "device": device}


def recorded_world(state: dict[str, Any], run_json: dict[str, Any] | None) -> dict[str, Any]:
    """The world a checkpoint was written in: its own record, else (a checkpoint written
    before worlds were recorded) what run.json says of the process count and precision."""
    if isinstance(state.get("world"), dict):
        return state["world"]
    info = run_json or {}
    found = {"num_processes": info.get("num_processes"), "precision": info.get("mixed_precision")}
    return {k: v for k, v in found.items() if v is not None}


def world_changes(before: dict[str, Any], now: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Each key of the world the checkpoint recorded whose value differs now: (then, now)."""
    return {k: (before[k], now.get(k)) for k in WORLD_NAMES if k in before
            and before[k] != now.get(k)}


def world_change_message(run_dir: Any, changes: dict[str, tuple[Any, Any]]) -> str:
    """The one line that refuses a resume in another world, naming both values of each."""
    listed = ", ".join(f"{WORLD_NAMES[k]} {a} (checkpoint) -> {b} (this launch)"
                       for k, (a, b) in changes.items())
    return (f"resuming {run_dir} in another world: {listed}; launch it as the checkpoint was "
            f"(the same process count and flags), or pass --allow-world-change to accept the "
            f"change (recorded in run.json; nothing was written)")
