"""`rhf model ...`: build and pre-train the embedded tiny T5."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from feedback_data.errors import fail
from pipeline.base_model import build_base
from training.recipe.pretrain import PretrainConfig

app = typer.Typer(help="The embedded default model (a tiny T5 that needs no download).",
                  no_args_is_help=True)



@app.command("init-tiny")
def init_tiny_command(
    out: Annotated[Path, typer.Argument(help="Folder to write the model and tokenizer to.")],
    seed: Annotated[int, typer.Option(help="Seed for the random weights.")] = 0,
) -> None:
    """Build a tiny T5 (random weights) with a BPE tokenizer trained on the task text."""
    from feedback_data.errors import DataError
    from training.model.tiny_model import count_parameters, init_tiny

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        fail(f"{out} already exists and is not an empty folder; choose another OUT")
    try:
        path = init_tiny(out, seed=seed)
    except DataError as exc:
        fail(str(exc))
    from transformers import AutoModelForSeq2SeqLM

    n = count_parameters(AutoModelForSeq2SeqLM.from_pretrained(path))
    typer.echo(f"wrote tiny T5 ({n / 1e6:.2f}M parameters) to {path}")


@app.command("pretrain-tiny")
def pretrain_tiny_command(
    out: Annotated[Path, typer.Argument(help="Run folder; the model lands in OUT/run/final.")],
    size: Annotated[str, typer.Option(help="Model size: tiny (2.3M, tests) or small (the "
                                           "demo's base).")] = PretrainConfig.size,
    k: Annotated[int, typer.Option(help="Shots in each CoT prompt it is trained on.")]
    = PretrainConfig.k,
    synthetic_sports: Annotated[int, typer.Option(
        help="New Sports statements built from vocab.json (none a dev or validation "
             "question).")] = PretrainConfig.synthetic_sports,
    strategyqa_repeats: Annotated[int, typer.Option(
        help="Copies of each StrategyQA gold chain per epoch.")]
    = PretrainConfig.strategyqa_repeats,
    epochs: Annotated[float, typer.Option(help="Passes over the pairs.")] = PretrainConfig.epochs,
    batch_size: Annotated[int, typer.Option(help="Pairs per step.")] = PretrainConfig.batch_size,
    lr: Annotated[float, typer.Option(help="Peak learning rate (cosine schedule).")]
    = PretrainConfig.lr,
    seed: Annotated[int, typer.Option(help="Seed for weights, shots and data order.")] = 0,
    check_limit: Annotated[int, typer.Option(
        help="Check on the first N questions of each set only (0: all).")] = 0,
    ship: Annotated[Path | None, typer.Option(
        help="Also copy the result (weights, tokenizer, base_record.json) here, e.g. "
             "models/tiny-base.")] = None,
) -> None:
    """Train the tiny T5 from scratch to write chains, then check and record it.

    Trains on gold chains outside every evaluation set (StrategyQA's BIG-bench explanations of
    the paper's training questions; new Sports statements from vocab.json), then writes
    base_record.json beside the weights: config, seed, commit, device, time, and CoT accuracy
    on the Sports validation questions and both dev sets. The demo's shipped base
    (models/tiny-base) was built with the defaults and --ship models/tiny-base.
    """
    from feedback_data.errors import DataError
    from training.run.checkpoint import CheckpointError
    from training.run.config import ConfigError

    # Checked before anything is written: pretraining writes OUT/init and the pairs first.
    if (out / "run" / "final").exists() or (out / "run" / "checkpoints").exists():
        fail(f"{out} already holds a pre-training run ({out / 'run'}); choose another OUT")
    if out.exists() and not out.is_dir():
        fail(f"{out} is a file; choose another OUT")
    cfg = PretrainConfig(size=size, k=k, synthetic_sports=synthetic_sports,
                         strategyqa_repeats=strategyqa_repeats, epochs=epochs,
                         batch_size=batch_size, lr=lr, seed=seed)
    try:
        record = build_base(out, cfg, ship_to=ship, check_limit=check_limit or None,
                            log=typer.echo)
    except (DataError, ConfigError, CheckpointError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"wrote the pre-trained tiny T5 and its record to {record['train_run']}/final")
