"""`rhf demo`: a thin shell over :func:`pipeline.demo.run_demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from feedback_data.errors import fail
from inference.run_options import Device, Dtype


def demo_command(
    out: Annotated[Path, typer.Option(help="Run folder for every stage and the report.")]
    = Path("runs/demo"),
    model: Annotated[str | None, typer.Option(
        help="Base model (hub id or folder) instead of the shipped tiny T5, e.g. "
             "google/flan-t5-large.")] = None,
    rebuild_base: Annotated[bool, typer.Option(
        "--rebuild-base", help="Pre-train the tiny base from scratch (rhf model pretrain-tiny's "
                               "defaults) instead of using the shipped models/tiny-base. "
                               "About 3 minutes on one GPU; far longer on 2 CPU cores.")]
    = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="Redo every stage.")] = False,
    with_annotation: Annotated[bool, typer.Option(
        "--with-annotation", help="Also run a local Label Studio pilot with the simulated "
                                  "annotator and train on its (source=simulated) records.")]
    = False,
    multitask_config: Annotated[Path | None, typer.Option(
        help="Multitask training YAML (default: the shipped one for the model's size).")]
    = None,
    refine_config: Annotated[Path | None, typer.Option(
        help="Refine training YAML (default: the shipped one for the model's size).")]
    = None,
    separate_critic: Annotated[bool, typer.Option(
        help="Train a separate critic (configs/critic/demo.yaml) and let it read the chains "
             "in evaluation (wsc's labels, Table 2, selective prediction) instead of the "
             "multitask model.")] = False,
    critic_config: Annotated[Path | None, typer.Option(
        help="Critic training YAML with --separate-critic (default: the shipped one).")]
    = None,
    combine_critic: Annotated[bool, typer.Option(
        help="Fit the combined critic (the learned P(no error), verification against the "
             "base's own chain, the base's answer agreement) on the critic's validation "
             "records; Table 2 then compares every row with it (rhf eval fit-critic).")]
    = True,
    limit: Annotated[int, typer.Option(help="Dev examples per task (0: the whole dev sets).")]
    = 0,
    seeds: Annotated[str, typer.Option(help="Comma-separated evaluation seeds.")] = "0,1,2",
    k: Annotated[int | None, typer.Option(
        help="Shots in the CoT prompt (default: 0 for the tiny base, 4 with --model).")] = None,
    n: Annotated[int, typer.Option(
        help="wsc samples per question (4 fits the 15-minute CPU budget; the method's "
             "default elsewhere is 8).")] = 4,
    threads: Annotated[int, typer.Option(
        help="torch CPU threads; fixed so that the numbers reproduce.")] = 2,
    quick: Annotated[bool, typer.Option(
        "--quick", help="A reduced run for tests: few steps, few questions.")] = False,
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Run the whole loop on the embedded default and write runs/demo/report.md."""
    from feedback_data.errors import DataError
    from feedback_data.sources.fetch import FetchError
    from pipeline.demo import DemoConfig, apply_quick, run_demo

    cfg = DemoConfig(out=out, model=model, rebuild_base=rebuild_base, fresh=fresh,
                     with_annotation=with_annotation, limit=limit or None, k=k, n=n,
                     threads=threads, device=device, dtype=dtype,
                     seeds=tuple(int(s) for s in seeds.split(",") if s.strip()))
    cfg.multitask_config, cfg.refine_config = multitask_config, refine_config
    cfg.separate_critic, cfg.critic_config = separate_critic, critic_config
    cfg.combine_critic = combine_critic
    if quick:
        apply_quick(cfg)
    from feedback_data.files.run_mark import NotOurFolder
    from feedback_data.files.write_lock import OutputLocked, command_line
    from inference.backends import ModelLoadError
    from inference.precision import PrecisionError
    from inference.run_options import check_precision
    from inference.sharding import SINGLE
    from training.run.checkpoint import CheckpointError
    from training.run.stop_signals import RunInterrupted

    try:
        check_precision(device, dtype, SINGLE)
        run_demo(cfg, log=typer.echo)
    except RunInterrupted as exc:  # a training stage stopped on Ctrl-C / SIGTERM and said so
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo(f"interrupted; finished stages are kept: run `{command_line()}` again to "
                   f"go on", err=True)
        raise typer.Exit(130) from None
    except (FetchError, DataError, OSError, OutputLocked, NotOurFolder,
            CheckpointError, PrecisionError, ModelLoadError) as exc:
        fail(str(exc))
