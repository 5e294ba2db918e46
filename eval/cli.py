"""`rhf eval --model M ...`: accuracy of every method on the dev sets, calibration, report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from feedback_data.cli_errors import fail
from inference import method_options as mo

app = typer.Typer(help="Evaluate checkpoints: dev accuracy per method, error-detection "
                       "calibration, report.md / report.json / plots.")


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


@app.callback(invoke_without_command=True)
def eval_command(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(
        help="Multitask-trained checkpoint (hub id, folder or RUN_DIR): multitask, wsc, "
             "wsc_soft, fine-tuned calibration.")] = None,
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("runs/eval"),
    base_model: Annotated[str | None, typer.Option(
        help="Base model for cot, refine's first chains and the ICL baseline; required when "
             "they run (no default: pass --model's value to use the same model).")] = None,
    refine_model: Annotated[str | None, typer.Option(
        help="Refine-trained checkpoint; required when refine runs.")] = None,
    methods: Annotated[str | None, typer.Option(
        help="Comma-separated registered methods (default: all of them: cot, multitask, wsc, "
             "wsc_soft, refine and any added to inference.dispatch.METHOD_REGISTRY; "
             "wsc_soft, an extension, reuses wsc's samples).", show_default=False)] = None,
    tasks: Annotated[str, typer.Option(
        help="Comma-separated tasks: registered names or task YAML files (docs/tasks.md).")]
    = "strategyqa,sports_understanding",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds (mean ± std over them).")]
    = "0",
    limit: Annotated[int | None, typer.Option(help="First N dev examples per task.")] = None,
    k: mo.K = mo.DEFAULTS.k,
    n: mo.N = mo.DEFAULTS.n,
    w: mo.W = mo.DEFAULTS.w,
    temperature: mo.Temperature = mo.DEFAULTS.temperature,
    rounds: mo.Rounds = mo.DEFAULTS.rounds,
    refine_keep: mo.RefineKeep = mo.DEFAULTS.refine_keep,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the CIs.")] = 1000,
    bootstrap_seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    batch_size: mo.BatchSize = mo.DEFAULTS.batch_size,
    max_new_tokens: mo.MaxNewTokens = mo.DEFAULTS.max_new_tokens,
    wsc_batch_rows: mo.WscBatchRows = mo.DEFAULTS.wsc_batch_rows,
    calibration: Annotated[bool, typer.Option(help="Run error-detection calibration.")] = True,
    calibration_limit: Annotated[int | None, typer.Option(
        help="First N calibration records (default: all 173).")] = None,
    calibration_feedback: Annotated[Path | None, typer.Option(
        help="FeedbackItems JSONL (e.g. a pull of your own task's annotations) to calibrate "
             "error detection on, instead of the paper's 173 StrategyQA records.")] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads.")] = None,
    plots: Annotated[bool, typer.Option(help="Write accuracy.png and reliability.png.")]
    = True,
) -> None:
    """Evaluate and write DIR/report.json, DIR/report.md and PNG plots."""
    if ctx.invoked_subcommand is not None:
        return
    from eval.config import EvalConfig, registered_methods
    from eval.runner import run_eval
    from feedback_data.jsonl import DataError
    from inference.backends import ModelLoadError

    if model is None:
        typer.secho("error: --model is required", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    try:
        config = EvalConfig(
            model=model, out=out, base_model=base_model, refine_model=refine_model,
            methods=_csv(methods) if methods is not None else registered_methods(),
            tasks=_csv(tasks), seeds=tuple(int(s) for s in _csv(seeds)),
            limit=limit, k=k, n=n, w=w, temperature=temperature, rounds=rounds,
            refine_keep=refine_keep, bootstrap=bootstrap, bootstrap_seed=bootstrap_seed,
            batch_size=batch_size, max_new_tokens=max_new_tokens,
            wsc_batch_rows=wsc_batch_rows, calibration=calibration,
            calibration_limit=calibration_limit, calibration_feedback=calibration_feedback,
            threads=threads, plots=plots)
        config.check()
        run_eval(config, log=typer.echo)
    except (ValueError, DataError, ModelLoadError) as exc:
        fail(str(exc))
