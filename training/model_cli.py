"""`rhf model ...`: build and pre-train the embedded tiny T5."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The embedded default model (a tiny T5 that needs no download).",
                  no_args_is_help=True)


@app.command("init-tiny")
def init_tiny_command(
    out: Annotated[Path, typer.Argument(help="Folder to write the model and tokenizer to.")],
    seed: Annotated[int, typer.Option(help="Seed for the random weights.")] = 0,
) -> None:
    """Build a tiny T5 (random weights) with a BPE tokenizer trained on the task text."""
    from feedback_data.jsonl import DataError
    from training.tiny_model import count_parameters, init_tiny

    try:
        path = init_tiny(out, seed=seed)
    except DataError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    from transformers import AutoModelForSeq2SeqLM

    n = count_parameters(AutoModelForSeq2SeqLM.from_pretrained(path))
    typer.echo(f"wrote tiny T5 ({n / 1e6:.2f}M parameters) to {path}")
