"""The errors every room of feedback_data (and every layer above it) raises or reports.

:class:`DataError` is bad input: its message names where (file, line, record, field).
:func:`fail` is the one way a command fails: one red 'error: ...' line on stderr and exit
status 1. Every ``rhf`` sub-command turns the errors it expects into ``fail(str(exc))``.
"""

from __future__ import annotations

from typing import NoReturn

import typer


class DataError(ValueError):
    """Bad input data; the message names where (file, line, record, field)."""


def fail(message: str) -> NoReturn:
    """Print ``error: message`` in red on stderr and exit with status 1."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)
