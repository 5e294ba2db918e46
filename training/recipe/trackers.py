"""Experiment trackers (``train.report_to``, ``rhf eval --report-to``) through accelerate.

``jsonl`` is the run folder's own ``metrics.jsonl`` (:mod:`training.run.metrics_log`); every other
name is one of accelerate's trackers, which do all the talking to their library: nothing here
speaks a tracker's protocol. This module decides which trackers a run asks for, refuses one
that is not installed at start-up (one line naming the extra to install), hands the final
config, seed and commit to them as the run's config, and keeps each tracker's run identity in
``RUN_DIR/trackers.json``, so that a resumed run and ``rhf eval --report-to`` log to the same
tracker run as the training did.

Where each tracker writes is its own setting, read from the environment as its library
documents it: ``WANDB_MODE=offline`` / ``WANDB_DIR`` (default: the run folder), W&B's
``WANDB_API_KEY``; ``MLFLOW_TRACKING_URI``; ``TRACKIO_DIR``. TensorBoard writes under
``RUN_DIR/tensorboard/``. Secrets stay in the environment and are never logged.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from feedback_data.files.io import write_text
from training.run.config import DEFAULT_REPORT_TO, REPORT_TO, ConfigError

__all__ = ["DEFAULT_REPORT_TO", "REPORT_TO", "TrackerError", "accelerate_trackers",
           "accelerator_kwargs", "find_run_dir", "log_tables", "open_runs",
           "start_training_run"]
TRACKERS_FILE = "trackers.json"
TENSORBOARD_DIR = "tensorboard"
# tracker -> (accelerate's availability check, the pyproject extra that installs it)
_INSTALL = {
    "tensorboard": ("is_tensorboard_available", "tensorboard"),
    "wandb": ("is_wandb_available", "wandb"),
    "mlflow": ("is_mlflow_available", "mlflow"),
    "trackio": ("is_trackio_available", "trackio"),
}


class TrackerError(ConfigError):
    """A tracker that cannot be used: unknown, or asked for but not installed."""


def accelerate_trackers(report_to: Iterable[str]) -> list[str]:
    """The accelerate trackers among ``report_to`` (in order, once each), each checked to be
    installed: a missing one is a :class:`TrackerError` naming the extra to install."""
    from accelerate import utils

    names: list[str] = []
    for name in report_to:
        if name not in REPORT_TO:
            raise TrackerError(f"report_to: unknown tracker '{name}' (known: "
                               f"{', '.join(REPORT_TO)})")
        if name == "jsonl" or name in names:
            continue
        check, extra = _INSTALL[name]
        if not getattr(utils, check)():
            raise TrackerError(
                f"report_to asks for {name}, which is not installed: pip install -e "
                f"'.[{extra}]' (or leave {name} out of train.report_to / --report-to)")
        names.append(name)
    return names


def accelerator_kwargs(report_to: Sequence[str], run_dir: Path) -> dict[str, Any]:
    """``log_with`` and ``project_config`` for ``Accelerator(...)``: TensorBoard under
    ``run_dir/tensorboard``. Raises :class:`TrackerError` first when a tracker is missing."""
    from accelerate.utils import ProjectConfiguration

    names = accelerate_trackers(report_to)
    return {"log_with": names or None,
            "project_config": ProjectConfiguration(
                project_dir=str(run_dir), logging_dir=str(Path(run_dir) / TENSORBOARD_DIR))}


def flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
    """{'train': {'lr': 1e-3}} -> {'train.lr': 1e-3}: what every tracker takes as its config
    (lists and None become text)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_config(value, name + "."))
        elif isinstance(value, bool | int | float | str):
            out[name] = value
        else:
            out[name] = json.dumps(value)
    return out


def read_identities(run_dir: Path) -> dict[str, Any]:
    """The tracker runs recorded in ``run_dir/trackers.json`` ({} when there is none)."""
    path = Path(run_dir) / TRACKERS_FILE
    if not path.is_file():
        return {}
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrackerError(f"{path}: unreadable ({exc})") from None
    if not isinstance(found, dict):
        raise TrackerError(f"{path}: expected an object, got {type(found).__name__}")
    return found


def _init_kwargs(names: Sequence[str], known: dict[str, Any], run_name: str,
                 run_dir: Path, config: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Each tracker's init arguments: the recorded run to continue, else a new one."""
    kwargs: dict[str, dict[str, Any]] = {}
    if "wandb" in names:
        w = known.get("wandb") or {}
        kwargs["wandb"] = {"id": w.get("id") or secrets.token_hex(4), "resume": "allow",
                           "name": run_name}
        if not os.environ.get("WANDB_DIR"):  # else W&B's own setting
            kwargs["wandb"]["dir"] = w.get("dir") or str(run_dir)
    if "mlflow" in names:
        m = known.get("mlflow") or {}
        kwargs["mlflow"] = {"run_id": m["run_id"]} if m.get("run_id") else {
            "run_name": run_name}
    if "trackio" in names:
        kwargs["trackio"] = {"name": (known.get("trackio") or {}).get("name") or run_name,
                             "resume": "allow"}
        if config is not None:  # trackio stores the config it is started with
            kwargs["trackio"]["config"] = config
    return kwargs


def _mlflow_uri(uri: str | None) -> None:
    if uri and not os.environ.get("MLFLOW_TRACKING_URI"):
        import mlflow

        mlflow.set_tracking_uri(uri)


def open_runs(accelerator: Any, project: str, run_name: str, run_dir: Path,
              config: dict[str, Any] | None, known: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    """Start (or continue, for the runs in ``known``) a run in each of the accelerator's
    trackers, give it ``config``, and return the identities to record.

    MLflow refuses a parameter whose value changes within a run, so a continued MLflow run
    keeps the parameters of its first launch (a resume's changes are in run.json)."""
    known = known or {}
    names = [str(t) for t in accelerator.log_with]
    if "mlflow" in names:
        _mlflow_uri((known.get("mlflow") or {}).get("tracking_uri"))
    project = known.get("project") or project
    accelerator.init_trackers(project, config=None,
                              init_kwargs=_init_kwargs(names, known, run_name, run_dir, config))
    if config is not None:
        for tracker in accelerator.trackers:
            if tracker.name == "mlflow" and (known.get("mlflow") or {}).get("run_id"):
                continue
            tracker.store_init_configuration(config)
    return _identities(accelerator, project, run_name, run_dir, known)


def _identities(accelerator: Any, project: str, run_name: str, run_dir: Path,
                known: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {"project": project, "run_name": run_name}
    if not accelerator.is_main_process:
        return found
    for tracker in accelerator.trackers:
        if tracker.name == "wandb":
            run = tracker.tracker
            found["wandb"] = {"id": run.id, "project": run.project,
                              "dir": tracker.init_kwargs.get("dir")}
        elif tracker.name == "mlflow":
            import mlflow

            found["mlflow"] = {"run_id": tracker.tracker.info.run_id,
                               "experiment_id": tracker.tracker.info.experiment_id,
                               "tracking_uri": mlflow.get_tracking_uri()}
        elif tracker.name == "trackio":
            found["trackio"] = {"project": project, "name": tracker.tracker.name}
        elif tracker.name == "tensorboard":
            found["tensorboard"] = {"logdir": str(tracker.logging_dir)}
    for name, value in known.items():  # trackers this launch did not use stay recorded
        found.setdefault(name, value)
    return found


def write_identities(run_dir: Path, identities: dict[str, Any]) -> None:
    write_text(Path(run_dir) / TRACKERS_FILE, json.dumps(identities, indent=2) + "\n")


def start_training_run(accelerator: Any, config: dict[str, Any], run_info: dict[str, Any],
                       run_dir: Path, project: str, resume: bool = False) -> None:
    """The training's tracker runs: the final config, seed and commit as their config; a
    resume continues the runs ``run_dir/trackers.json`` names (a new run starts new ones).
    The main process writes trackers.json."""
    if not accelerator.log_with:
        return
    run_dir = Path(run_dir)
    values = run_values(config, run_info)
    identities = open_runs(accelerator, project, run_dir.name, run_dir, values,
                           read_identities(run_dir) if resume else {})
    if accelerator.is_main_process:
        write_identities(run_dir, identities)


def run_values(config: dict[str, Any], run_info: dict[str, Any]) -> dict[str, Any]:
    """What a training run gives its trackers as config: the final config (flat), the seed,
    the commit and the objective."""
    return flat_config(config) | {"seed": run_info.get("seed"),
                                  "git_commit": str(run_info.get("git_commit")),
                                  "objective": str(run_info.get("objective"))}


def recorded_run_values(run_dir: Path) -> dict[str, Any] | None:
    """:func:`run_values` of a finished run, from its config.yaml and run.json."""
    import yaml

    try:
        config = yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8"))
        run_info = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None
    if not isinstance(config, dict) or not isinstance(run_info, dict):
        return None
    return run_values(config, run_info)


def find_run_dir(model: str | Path) -> Path | None:
    """The training run folder of a model spec (RUN_DIR or RUN_DIR/final) that recorded its
    tracker runs; None for a hub id or a folder without trackers.json."""
    path = Path(model)
    for candidate in (path, path.parent):
        if (candidate / TRACKERS_FILE).is_file() and (candidate / "run.json").is_file():
            return candidate
    return None


def log_tables(accelerator: Any, tables: dict[str, tuple[list[str], list[list[Any]]]],
               files: Sequence[Path] = ()) -> None:
    """Tables (name -> (columns, rows)) to each tracker in its own form: a W&B table, a
    trackio Table, TensorBoard text (Markdown); MLflow gets ``files`` (e.g. report.md,
    report.json) as artifacts."""
    for tracker in accelerator.trackers:
        if tracker.name == "wandb":
            for name, (columns, rows) in tables.items():
                tracker.log_table(name, columns=columns, data=rows)
        elif tracker.name == "trackio":
            trackio = importlib.import_module("trackio")
            tracker.log({name: trackio.Table(columns=columns, data=rows)
                         for name, (columns, rows) in tables.items()})
        elif tracker.name == "tensorboard" and accelerator.is_main_process:
            for name, (columns, rows) in tables.items():
                tracker.tracker.add_text(name, markdown_table(columns, rows))
            tracker.tracker.flush()
        elif tracker.name == "mlflow":
            for f in files:
                tracker.log_artifact(str(f))


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
