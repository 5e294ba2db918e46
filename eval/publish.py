"""Where an evaluation goes beyond its report folder: the experiment trackers of the training
run (``rhf eval --report-to``) and the model card of the evaluated checkpoint
(``rhf eval --update-card``).

The tables are the report's: Table 1's accuracy of each method on each task and Table 2's
error detection. Tracker runs are found through the model's ``RUN_DIR/trackers.json``
(:mod:`training.recipe.trackers`), so the numbers land in the run that trained it; a model without
one gets a new tracker run named after the report folder, recorded in its trackers.json.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from eval.names import CALIBRATION_NAMES, TASK_NAMES, method_title
from eval.report import accuracy_cell, ci_text, pct
from inference.dispatch import METHOD_REGISTRY

# The model that runs a method (its registry entry's ``model``) -> the evaluation's setting
# naming that checkpoint, whose card gets the method's numbers.
CARD_ROLES = {"model": "model", "refine": "refine_model", "base": "base_model"}
ROLE_CALIBRATION = {"model": "finetuned", "base_model": "icl"}
ACCURACY_COLUMNS = ["method", "task", "accuracy", "std", "ci_low", "ci_high", "n", "seeds"]
DETECTION_COLUMNS = ["model", "n", "accuracy", "ci_low", "ci_high", "unreadable", "auroc",
                     "ece"]


def _n(report: dict[str, Any], task: str) -> int | None:
    return (report.get("majority", {}).get(task) or {}).get("n")


def report_tables(report: dict[str, Any]) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """Table 1 and Table 2 of the report as (columns, rows)."""
    rows = []
    for method, by_task in report["accuracy"].items():
        for task, s in by_task.items():
            ci = s.get("ci") or [None, None]
            rows.append([method, task, s["mean"], s.get("std"), ci[0], ci[1], _n(report, task),
                         s.get("seeds")])
    tables = {"eval/accuracy": (ACCURACY_COLUMNS, rows)}
    if report.get("calibration"):
        tables["eval/error_detection"] = (DETECTION_COLUMNS, [
            [key, c["n"], c["accuracy"], *(c.get("accuracy_ci") or [None, None]),
             c["unreadable"], c.get("auroc"), c.get("ece")]
            for key, c in report["calibration"].items()])
    return tables


def report_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The tables' numbers as scalars: eval/<task>/<method>/accuracy, ..."""
    out: dict[str, float] = {}
    for method, by_task in report["accuracy"].items():
        for task, s in by_task.items():
            out[f"eval/{task}/{method}/accuracy"] = float(s["mean"])
    for key, c in (report.get("calibration") or {}).items():
        for name in ("accuracy", "auroc", "ece"):
            if c.get(name) is not None:
                out[f"eval/error_detection/{key}/{name}"] = float(c[name])
    return out


def log_to_trackers(report: dict[str, Any], report_to: tuple[str, ...], model: str, out: Path,
                    log: Callable[[str], None] = print) -> None:
    """Log the report's tables and numbers to the trackers in ``report_to``, in the tracker
    runs that trained ``model`` when its run folder recorded them."""
    from accelerate import Accelerator

    from training.recipe.trackers import (
        accelerate_trackers,
        accelerator_kwargs,
        find_run_dir,
        flat_config,
        log_tables,
        open_runs,
        read_identities,
        recorded_run_values,
        write_identities,
    )

    names = accelerate_trackers(report_to)
    if not names:
        return
    run_dir = find_run_dir(model)
    step = _final_step(run_dir)  # before any tracker run opens: a bad run.json stops here
    home = run_dir or Path(out)
    known = read_identities(run_dir) if run_dir else read_identities(out)
    accelerator = Accelerator(**accelerator_kwargs(names, home))
    # The training's config again (trackio keeps the config a run was last started with).
    config = recorded_run_values(run_dir) if run_dir else flat_config(
        {"eval": report["config"]})
    identities = open_runs(accelerator, "rhf", home.name if run_dir else Path(out).name,
                           home, config, known)
    metrics = report_metrics(report)
    for tracker in accelerator.trackers:  # W&B places them after the run's last step
        tracker.log(metrics, step=None if tracker.name == "wandb" else step)
    log_tables(accelerator, report_tables(report), files=[Path(out) / "report.md",
                                                         Path(out) / "report.json"])
    accelerator.end_training()
    if run_dir is None:
        write_identities(Path(out), identities)
    where = f"the training run {run_dir}" if run_dir else f"a new run '{Path(out).name}'"
    log(f"[eval] logged the tables to {', '.join(names)} ({where})")


def _final_step(run_dir: Path | None) -> int:
    """The training's last step, from RUN_DIR/run.json (0 for a model without a run folder);
    a run.json that cannot be read, does not parse or holds no step count is a DataError
    naming it, never step 0."""
    import json

    from feedback_data.errors import DataError
    from feedback_data.files.io import NotUtf8, read_utf8

    if run_dir is None:
        return 0
    path = run_dir / "run.json"
    try:
        record = json.loads(read_utf8(path))
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
    except NotUtf8:
        why = "not UTF-8 text"
    except json.JSONDecodeError as exc:
        why = f"invalid JSON: {exc.msg}, line {exc.lineno}"
    else:
        steps = record.get("total_steps") if isinstance(record, dict) else None
        if isinstance(steps, int) and not isinstance(steps, bool) and steps >= 0:
            return steps
        why = "no 'total_steps' count"
    raise DataError(f"{path}: cannot read the training run's step count ({why}): fix it "
                    "before logging the evaluation to its trackers")


def card_section(report: dict[str, Any], methods: tuple[str, ...], calibration: str | None,
                 out: Path) -> tuple[str, list[Any]]:
    """The Markdown appended to a card and its model-index results, for the methods (and
    the calibration row) one model ran."""
    from training.recipe.model_card import Result

    code = report.get("code") or {}
    lines = [f"`rhf eval` at commit `{code.get('commit')}`"
             + (" (uncommitted changes)" if code.get("dirty") else "")
             + f", seeds {', '.join(map(str, report['config']['seeds']))}; report "
             f"`{out / 'report.md'}`. Accuracy (%) with its 95% CI:", "",
             "| Method | Task | n | Accuracy (%) [95% CI] |", "|---|---|---|---|"]
    results = []
    for method in methods:
        for task, s in (report["accuracy"].get(method) or {}).items():
            lines.append(f"| {method_title(method)} | {TASK_NAMES.get(task, task)} "
                         f"| {_n(report, task)} | {accuracy_cell(s)} |")
            results.append(Result(task, f"{TASK_NAMES.get(task, task)} dev", "accuracy",
                                  float(s["mean"]), method))
    cal = (report.get("calibration") or {}).get(calibration or "")
    if cal:
        auroc = "n/a" if cal.get("auroc") is None else f"{cal['auroc']:.3f}"
        lines += ["", f"Error detection on {cal['n']} calibration records "
                      f"({CALIBRATION_NAMES.get(calibration, calibration)}): accuracy "
                      f"{pct(cal['accuracy'])}% {ci_text(cal.get('accuracy_ci'))}, AUROC "
                      f"{auroc}, "
                      f"{cal['unreadable']} unreadable."]
        results.append(Result("error_detection", "StrategyQA calibration records",
                              "accuracy", float(cal["accuracy"]), "error detection"))
    return "\n".join(lines), results


def role_methods(role: str) -> tuple[str, ...]:
    """The registered methods whose numbers go on the card of the model in ``role`` (model,
    base_model or refine_model): those that model runs, by their registry entries."""
    return tuple(m.name for m in METHOD_REGISTRY if CARD_ROLES[m.model] == role)


def cards_to_update(config: Any) -> dict[Path, list[str]]:
    """Card folders of the evaluated models -> the roles each served; ``--model``'s must
    have a card (a ValueError otherwise, before anything runs)."""
    from training.recipe.model_card import card_folder

    folders: dict[Path, list[str]] = {}
    for role in CARD_ROLES.values():
        spec = getattr(config, role)
        folder = card_folder(spec) if spec else None
        if folder is None and role == "model":
            raise ValueError(f"--update-card: {spec} has no model card (RUN_DIR/final/"
                             "README.md, written by rhf train)")
        if folder is not None:
            folders.setdefault(folder.resolve(), []).append(role)
    return folders


def update_cards(report: dict[str, Any], config: Any, log: Callable[[str], None] = print
                 ) -> list[Path]:
    """Append the headline numbers to the card of each evaluated rhf model."""
    from training.recipe.model_card import append_results

    written = []
    for folder, roles in cards_to_update(config).items():
        methods = tuple(m for r in roles for m in role_methods(r) if m in config.methods)
        calibration = next((ROLE_CALIBRATION[r] for r in roles if r in ROLE_CALIBRATION
                            and config.calibration), None)
        section, results = card_section(report, methods, calibration, Path(config.out))
        if not results:
            continue
        written.append(append_results(folder, results, section))
        log(f"[eval] appended the headline numbers to {folder / 'README.md'}")
    return written
