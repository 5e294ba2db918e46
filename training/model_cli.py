"""`rhf model ...`: build and pre-train the embedded tiny T5."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The embedded default model (a tiny T5 that needs no download).",
                  no_args_is_help=True)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@app.command("init-tiny")
def init_tiny_command(
    out: Annotated[Path, typer.Argument(help="Folder to write the model and tokenizer to.")],
    seed: Annotated[int, typer.Option(help="Seed for the random weights.")] = 0,
) -> None:
    """Build a tiny T5 (random weights) with a BPE tokenizer trained on the task text."""
    from feedback_data.jsonl import DataError
    from training.tiny_model import count_parameters, init_tiny

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        _fail(f"{out} already exists and is not an empty folder; choose another OUT")
    try:
        path = init_tiny(out, seed=seed)
    except DataError as exc:
        _fail(str(exc))
    from transformers import AutoModelForSeq2SeqLM

    n = count_parameters(AutoModelForSeq2SeqLM.from_pretrained(path))
    typer.echo(f"wrote tiny T5 ({n / 1e6:.2f}M parameters) to {path}")


@app.command("pretrain-tiny")
def pretrain_tiny_command(
    out: Annotated[Path, typer.Argument(help="Run folder; the model lands in OUT/run/final.")],
    k: Annotated[int, typer.Option(help="Shots in each CoT prompt it is trained on.")] = 0,
    epochs: Annotated[float, typer.Option(help="Passes over the gold chains.")] = 5.0,
    init_from: Annotated[Path | None, typer.Option(
        help="Start from this tiny model instead of building a new one.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for weights, shots and data order.")] = 0,
) -> None:
    """Train the tiny T5 from scratch to write chains (gold chains outside every eval set)."""
    from feedback_data.jsonl import DataError
    from inference.backends import Backend
    from inference.chains import generate_chains, select_examples
    from training.checkpoint import CheckpointError
    from training.config import ConfigError
    from training.pretrain import pretrain_tiny

    # Checked before anything is written: pretrain_tiny writes OUT/init and the pairs first.
    if (out / "run" / "final").exists() or (out / "run" / "checkpoints").exists():
        _fail(f"{out} already holds a pre-training run ({out / 'run'}); choose another OUT")
    if out.exists() and not out.is_dir():
        _fail(f"{out} is a file; choose another OUT")
    try:
        final = pretrain_tiny(out, k=k, epochs=epochs, init_from=init_from, seed=seed)
    except (DataError, ConfigError, CheckpointError) as exc:
        _fail(str(exc))
    # Parse rate on questions it was trained on is a format check, not a score.
    backend = Backend.load(final)
    for task in ("strategyqa", "sports_understanding"):
        chains = generate_chains(backend, select_examples(task, "train", limit=32), task, k=k)
        rate = sum(c.parsed for c in chains) / len(chains)
        typer.echo(f"{task}: {rate:.0%} of 32 chains parse")
    typer.echo(f"wrote the pre-trained tiny T5 to {final}")
