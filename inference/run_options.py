"""What every command that loads a model shares: ``--device`` and ``--dtype``, and how a
command behaves under a data-parallel launch (only the main process speaks and writes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, NoReturn

import typer

from feedback_data.errors import fail
from inference.precision import DEVICES_HELP, DTYPES
from inference.sharding import DataParallel

Device = Annotated[str, typer.Option(
    help=f"Where the model runs: {DEVICES_HELP}. auto: the GPU (each process its own under "
         "accelerate launch) when torch sees one, else the CPU.")]
Dtype = Annotated[str, typer.Option(
    help=f"Precision of the weights: {', '.join(DTYPES)}. auto: bfloat16 on a GPU that runs "
         "it natively (compute capability >= 8.0), float32 otherwise.")]


def check_precision(device: str, dtype: str, dp: DataParallel) -> tuple[str, str]:
    """(device, dtype) as they will be used, checked before anything loads."""
    from inference.precision import resolve_device, resolve_dtype

    where = resolve_device(device, dp.local_rank)
    return where, resolve_dtype(dtype, where)


def fail_once(dp: DataParallel, message: str) -> NoReturn:
    """The one error line, from the main process only (every process of a launch meets the
    same bad input), and exit status 1 everywhere."""
    if dp.is_main:
        fail(message)
    raise typer.Exit(1)


def echo(dp: DataParallel) -> Callable[[str], None]:
    """typer.echo on the main process, silence on the others."""
    return typer.echo if dp.is_main else (lambda _m: None)
