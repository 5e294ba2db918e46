"""`rhf train ...`: fine-tune on rich feedback; `rhf train merge` folds LoRA into the weights;
`rhf train verify` checks a saved folder against its manifest.

    rhf train --objective multitask --model /tmp/tiny --out runs/mt [--config YAML]
              [--resume [--allow-config-change] [--allow-world-change]]
              [key=value | --key value ...]

Options and overrides may come in any order; ``--model`` and ``--out`` are taken as written
(never read as YAML), and ``--resume`` never takes the next argument. A first Ctrl-C or
SIGTERM ends the run after the current step with a checkpoint (exit 130 / 143).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from feedback_data.errors import fail as _fail
from feedback_data.registry import lazy_help_option, listing

RUN = "run"  # the hidden command that trains; `rhf train ARGS` is `rhf train run ARGS`
_LINE = "rhf.train.line"


class _TrainGroup(TyperGroup):
    """`rhf train`: ``merge`` and ``verify`` are sub-commands; anything else on the line is
    the training command's options and overrides (``rhf train --objective refine lr=1e-4``).

    Public click hooks only: :meth:`resolve_command` sends a line whose first word is not a
    sub-command's name to the hidden ``run`` command, and ``--help`` shows that command's
    help (its options, and the sub-commands in its epilog).
    """

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] in self.commands and args[0] != RUN:
            return super().resolve_command(ctx, args)
        ctx.meta[_LINE] = ["rhf", "train", *args]  # the line as typed, for resume hints
        return RUN, self.commands[RUN], args

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        run = self.commands[RUN]
        run.format_help(click.Context(run, info_name=ctx.info_name, parent=ctx.parent),
                        formatter)


app = typer.Typer(cls=_TrainGroup, invoke_without_command=True,
                  context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                  help="Fine-tune a model on rich feedback, by a registered objective "
                       "(--objective).")


@app.callback()
def train_group(ctx: typer.Context) -> None:
    """Fine-tune a model on rich feedback, by a registered objective (--objective)."""
    if ctx.invoked_subcommand is None:  # `rhf train` alone
        typer.echo(ctx.get_help())


def _objectives_help() -> str:
    """``--objective``'s help: the objective registry when help is shown."""
    from training.recipe.objectives import OBJECTIVE_REGISTRY

    return f"A registered objective: {listing(OBJECTIVE_REGISTRY)}."


@app.command(RUN, hidden=True, options_metavar="[OPTIONS] [KEY=VALUE | --KEY VALUE]...",
             epilog="Also: `rhf train merge ADAPTER OUT` folds a LoRA "
             "adapter into full weights; `rhf train verify FOLDER` checks a saved folder "
             "against its manifest.",
             context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def train_command(
    ctx: typer.Context,
    objective: Annotated[str | None, lazy_help_option(_objectives_help)] = None,
    model: Annotated[str | None, typer.Option(help="Model folder or hub id.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder to write.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML config (configs/...).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue from the newest checkpoint in --out.")] = False,
    allow_config_change: Annotated[bool, typer.Option(
        "--allow-config-change", help="With --resume: apply run-defining config changes "
        "(e.g. a new lr) and record them in run.json; without it such a resume is refused.")]
    = False,
    allow_world_change: Annotated[bool, typer.Option(
        "--allow-world-change", help="With --resume: accept another process count, global "
        "batch, precision or device than the checkpoint's, and record the change and its step "
        "in run.json; without it such a resume is refused.")] = False,
    help_config: Annotated[bool, typer.Option(
        "--help-config", help="List every config key with its default and help.")] = False,
) -> None:
    """Train: overrides follow as key=value or --key value (e.g. lr=1e-4 --lora-r 8), in any
    order with the options."""
    from training.run.config import ConfigError, describe
    from training.run.config_load import load_config, split_launch_args

    if help_config:
        typer.echo(describe())
        return
    extra_config, rest = split_launch_args(list(ctx.args))
    if not (objective or config or extra_config or rest or model or out or resume):
        typer.echo(ctx.parent.get_help() if ctx.parent else ctx.get_help())
        return
    from feedback_data.files.disk_full import DiskFull
    from feedback_data.files.write_lock import command_as
    from training.recipe.numerics_guard import NonFiniteError
    from training.recipe.objectives import train
    from training.run.checkpoint import CheckpointError
    from training.run.config_load import parse_overrides
    from training.run.stop_signals import RunInterrupted

    try:
        from training.recipe.objectives import OBJECTIVE_REGISTRY

        if objective is not None and objective not in OBJECTIVE_REGISTRY:
            raise ConfigError(f"--objective must be {' or '.join(OBJECTIVE_REGISTRY.names())} "
                              f"(the objective registry), not '{objective}'")
        # Typed values, not text: a path or model id never passes through the YAML reader.
        overrides = parse_overrides(rest)
        overrides.update({k: v for k, v in {
            "model.name_or_path": model, "train.output_dir": None if out is None else str(out),
            "train.resume": resume or None,
            "train.allow_config_change": allow_config_change or None,
            "train.allow_world_change": allow_world_change or None}.items()
            if v is not None})
        cfg = load_config(config or extra_config, overrides, objective=objective)
        with command_as(ctx.meta.get(_LINE) or ["rhf", "train", *ctx.args]):
            final = train(cfg)
    except RunInterrupted as exc:  # the run has said where it stopped and how to resume
        raise typer.Exit(exc.exit_code) from None
    except (ConfigError, CheckpointError, NonFiniteError, DiskFull) as exc:
        _fail(str(exc))
    except OSError as exc:  # a disk or folder problem met mid-run
        _fail(f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}")
    else:
        typer.echo(f"final model: {final}")


@app.command("merge")
def merge_command(
    adapter: Annotated[Path, typer.Argument(help="A LoRA run's final/ (or checkpoint) folder.")],
    out: Annotated[Path, typer.Argument(help="Folder for the merged full weights.")],
    base: Annotated[str | None, typer.Option(
        help="Base model, if not the one recorded in adapter_config.json.")] = None,
) -> None:
    """Merge a LoRA adapter into its base model and save plain safetensors weights."""
    from training.model.modeling import merge_adapter

    try:
        path = merge_adapter(adapter, out, base=base)
    except (OSError, ValueError) as exc:
        _fail(str(exc).splitlines()[0])
    else:
        typer.echo(f"wrote merged model to {path}")


@app.command("verify")
def verify_command(
    folder: Annotated[Path, typer.Argument(help="A run's final/ or a checkpoint folder.")],
) -> None:
    """Check every file of a saved folder against the sha256 in its manifest.json."""
    from training.run.checkpoint import CheckpointError, verify_checkpoint

    try:
        count = verify_checkpoint(folder, what="folder", hint="")
    except CheckpointError as exc:
        _fail(str(exc))
    else:
        typer.echo(f"{folder}: {count} files match manifest.json")
