"""`rhf eval --model M ...`: accuracy of every method on the dev sets, calibration, report."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer

from eval.critic_combiner import DEFAULT_FEATURES
from inference.method_options import method_option, with_method_options
from inference.run_options import Device, Dtype

app = typer.Typer(help="Evaluate checkpoints: dev accuracy per method, error-detection "
                       "calibration, report.md / report.json / plots.")


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


@app.callback(invoke_without_command=True)
@with_method_options(exclude=("seed",))  # --seeds: every seed is a run
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
    critic_model: Annotated[str | None, typer.Option(
        help="A separate critic (rhf train --objective critic): wsc's labels, the fine-tuned "
             "detection rows and selective prediction (its critic.json applied); default: "
             "--model.")] = None,
    methods: Annotated[str | None, method_option(
        "Comma-separated methods of the method registry (inference.dispatch.METHOD_REGISTRY; "
        "default: all of them):", " wsc_soft, an extension, reuses wsc's samples.",
        show_default=False)] = None,
    tasks: Annotated[str, typer.Option(
        help="Comma-separated tasks: registered names or task YAML files (docs/tasks.md).")]
    = "strategyqa,sports_understanding",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds (mean ± std over them).")]
    = "0",
    limit: Annotated[int | None, typer.Option(help="First N dev examples per task.")] = None,
    knobs: dict[str, Any] | None = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the CIs.")] = 1000,
    bootstrap_seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    calibration: Annotated[bool, typer.Option(help="Run error-detection calibration.")] = True,
    calibration_limit: Annotated[int | None, typer.Option(
        help="First N calibration records (default: all 173).")] = None,
    calibration_feedback: Annotated[Path | None, typer.Option(
        help="FeedbackItems JSONL (e.g. a pull of your own task's annotations) to calibrate "
             "error detection on, instead of the paper's 173 StrategyQA records.")] = None,
    detection_baselines: Annotated[str, typer.Option(
        help="Comma-separated baselines scored on the detection sets beside the critic in "
             "Table 2: prior (the training 'no error' share), agreement (self-consistency "
             "agreement of --n samples), icl_cf (the ICL baseline with content-free "
             "calibration), sports_rules (the vocab.json rule checker, Sports only); 'all' "
             "for every one.")] = "",
    selective_dev: Annotated[bool, typer.Option(
        help="Score multitask's own dev answers by its P(no error) for the risk-coverage "
             "curve (one label-scoring pass per task).")] = True,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads.")] = None,
    report_to: Annotated[str, typer.Option(
        help="Comma-separated trackers that get the tables: tensorboard, wandb, mlflow, "
             "trackio; the training run's own tracker run when --model's run folder "
             "recorded one (RUN_DIR/trackers.json), else a new run.")] = "",
    update_card: Annotated[bool, typer.Option(
        "--update-card", help="Append the headline numbers to the model card "
        "(RUN_DIR/final/README.md) of --model (and of --refine-model / --base-model when "
        "they are rhf runs).")] = False,
    plots: Annotated[bool, typer.Option(help="Draw accuracy.png and reliability.png.")] = True,
    device: Device = "auto",
    dtype: Dtype = "auto",
) -> None:
    """Evaluate and write DIR/report.json, DIR/report.md and PNG plots.

    On several GPUs: `accelerate launch --num_processes N -m rhf_cli eval ...` (the same
    predictions and report as one process, which report.json's environment.num_processes
    records; the main process writes).
    """
    if ctx.invoked_subcommand is not None:
        return
    from eval.config import EvalConfig, registered_methods
    from eval.runner import KIND, OUTPUTS, run_eval
    from feedback_data.errors import DataError
    from feedback_data.files.disk_full import DiskFull
    from feedback_data.files.run_mark import NotOurFolder, claim
    from feedback_data.files.write_lock import OutputLocked, folder_lock, hold
    from feedback_data.records.provenance import git_commit
    from inference.backends import ModelLoadError
    from inference.run_options import check_precision, echo, fail_once
    from inference.sharding import LaunchAborted, current

    dp = current()
    if model is None:
        if dp.is_main:
            typer.secho("error: --model is required", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    try:
        config = EvalConfig.of(
            model=model, out=out, base_model=base_model, refine_model=refine_model,
            critic_model=critic_model,
            methods=_csv(methods) if methods is not None else registered_methods(),
            tasks=_csv(tasks), seeds=tuple(int(s) for s in _csv(seeds)), limit=limit,
            detection_baselines=_baselines(detection_baselines), bootstrap=bootstrap,
            bootstrap_seed=bootstrap_seed, **(knobs or {}), calibration=calibration,
            calibration_limit=calibration_limit, calibration_feedback=calibration_feedback,
            selective_dev=selective_dev,
            threads=threads, report_to=tuple(r for r in _csv(report_to) if r != "jsonl"),
            update_card=update_card, plots=plots, device=device, dtype=dtype)
        config.check()
        check_precision(device, dtype, dp)
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} is a file; choose a folder")
        # One evaluation per folder at a time; never over files rhf did not write. Under a
        # launch the main process holds the lock and writes (the others only compute).
        lock = hold(folder_lock(out), str(out), "wait for it to finish, or choose another "
                                                "--out (nothing was written)") \
            if dp.is_main else nullcontext()
        with lock:
            if dp.is_main:
                claim(out, KIND, OUTPUTS, commit=git_commit(), adopt=_is_rhf_report(out))
            run_eval(config, log=echo(dp))
    except LaunchAborted as exc:
        fail_once(dp, f"{exc}; no report was written")
    except DiskFull as exc:
        fail_once(dp, f"{exc}; the files written before it are kept: rerun rhf eval to finish")
    except (ValueError, DataError, ModelLoadError, OutputLocked, NotOurFolder) as exc:
        fail_once(dp, str(exc))


def _baselines(value: str) -> tuple[str, ...]:
    from eval.detection_baselines import DETECTION_BASELINES

    names = _csv(value)
    return DETECTION_BASELINES if names == ("all",) else names


def _is_rhf_report(out: Path) -> bool:
    """An evaluation folder from before marks existed: its report.json is an rhf report."""
    import json

    try:
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(report, dict) and {"runs", "accuracy", "statistics"} <= set(report)


@app.command("fit-critic")
def fit_critic_command(
    checkpoint: Annotated[Path, typer.Argument(
        help="A trained critic's folder (RUN/final or RUN/critic): its critic_validation.json "
             "holds the validation records; the combiner is stored in its critic.json.")],
    verifier: Annotated[str, typer.Option(
        help="The answering model that verifies: it writes its own 0-shot CoT chains for each "
             "validation question (e.g. the base the critic was trained from).")],
    samples: Annotated[int, typer.Option(
        help="Sampled verifier chains per question, beside the greedy one (0: greedy "
             "alone, the choice on validation).")] = 0,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.7,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    features: Annotated[str, typer.Option(
        help="The combiner's inputs, comma-separated, from: learned, verification, "
             "agreement, subquestions (the verifier's answers to subquestions a planner "
             "writes; needs --planner). The default is the choice on validation.")
    ] = ",".join(DEFAULT_FEATURES),
    planner: Annotated[str | None, typer.Option(
        help="The model that writes the verification questions, trained with the multitask "
             "subquestions term (data.term_weights.subquestions > 0): a model path or hub "
             "id, or 'self' for CHECKPOINT itself. Read only with the subquestions "
             "feature.")] = None,
    max_subquestions: Annotated[int, typer.Option(
        help="Verification questions per question, at most.")] = 3,
    batch_size: Annotated[int, typer.Option(help="Sequences per generate call.")] = 64,
    device: Device = "auto",
) -> None:
    """Fit the critic's combiner on its validation records: the learned P(no error), the
    verification of the chain's claims against the verifier's own chains, and the verifier's
    answer agreement, in one logistic regression per task (eval/critic_combiner.py); with
    --features ...,subquestions --planner MODEL, also the chain checked against the
    verifier's answers to the planner's subquestions (Chain-of-Verification). `rhf eval`
    then scores Table 2 with it, beside each signal alone."""
    from eval.critic_combiner import VerifierSettings, fit_combiner
    from inference.backends import Backend, ModelLoadError
    from inference.combined_critic import planner_for

    try:
        chosen = [f.strip() for f in features.split(",") if f.strip()]
        if planner is not None and "subquestions" not in chosen:
            raise ValueError("--planner is read only with the subquestions feature "
                             "(--features ...,subquestions)")
        critic = Backend.load(checkpoint, batch_size=batch_size, device=device)
        answerer = Backend.load(verifier, batch_size=batch_size, device=device)
        planner_model = planner_for(planner, critic, lambda spec: Backend.load(
            spec, batch_size=batch_size, device=device))
        settings = VerifierSettings(verifier, samples, temperature, seed, planner=planner,
                                    max_subquestions=max_subquestions)
        fit_combiner(checkpoint, critic, answerer, settings, batch_size,
                     log=lambda m: typer.echo(m, err=True), features=chosen,
                     planner=planner_model)
    except (FileNotFoundError, ValueError, ModelLoadError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"combiner stored in {checkpoint / 'critic.json'}")
