"""The run folder, checked before anything is written: no finished run is overwritten, a
resumed checkpoint matches its manifest, a resume does not silently change a run-defining
key, run.json and metrics.jsonl are readable, the folder is writable, no file of the user's
is overwritten. Each refusal is one line (:class:`RunDirError`, :class:`ConfigChangeError`
or :class:`CheckpointError`). Once the checks pass the folder is marked as a training run's
(``.rhf-run``, :mod:`feedback_data.run_mark`); its lock is :mod:`training.run_guard`'s.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from feedback_data.run_mark import NotOurFolder, check_claim, claim
from training.atomic_files import atomic_write_bytes, write_run_files
from training.checkpoint import (
    check_objective,
    check_signature,
    config_signature,
    list_checkpoints,
    read_state,
)
from training.checkpoint_errors import (
    CheckpointError,
    ConfigChangeError,
    RunDirError,
    corrupt_checkpoint,
)
from training.config_checks import config_changes, run_defining
from training.manifest import verify_checkpoint
from training.metrics_log import METRICS_FILE
from training.run_guard import KIND, OWNS


def prepare_run_dir(run_dir: Path, resume: bool, config_yaml: str, run_info: dict[str, Any],
                    is_main: bool, log: Any = print) -> Path | None:
    """Check the run folder, then write config.yaml and run.json; return the checkpoint to
    resume from, if any. Every rank runs the checks (so all refuse together); only the main
    process writes, and only once every check has passed.

    Refused, with one line and nothing written: a folder holding checkpoints or a finished
    ``final/`` without ``resume``; a resume whose checkpoint does not match its manifest;
    a resume whose run-defining keys differ from the checkpoint's config, unless
    ``train.allow_config_change`` (the change is then recorded in run.json); an unreadable
    run.json; a bad line inside metrics.jsonl; a folder that cannot be written. A torn last
    line of metrics.jsonl (a write cut by a kill) is dropped, and said so.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"output folder {run_dir} is a file")
    new_config = yaml.safe_load(config_yaml)
    allow_change = bool((new_config.get("train") or {}).get("allow_config_change"))
    latest = list_checkpoints(run_dir)
    finished = (run_dir / "final").is_dir()
    if not resume and (latest or finished):
        held = "a finished run (final/)" if finished else "checkpoints"
        raise RunDirError(f"{run_dir} already holds {held}: pass --resume to continue it, or "
                          f"choose another --out (nothing was written)")
    ckpt = latest[-1] if resume and latest else None
    if resume and ckpt is None and finished:
        raise RunDirError(f"{run_dir} holds a finished run (final/) but no checkpoint to "
                          f"resume from; choose another --out (nothing was written)")
    previous, entry = None, None
    if ckpt is not None:
        verify_checkpoint(ckpt)
        state = read_state(ckpt)
        check_objective(ckpt, state, new_config.get("objective"))
        changes = config_changes(_read_checkpoint_config(ckpt), new_config)
        blocking = run_defining(changes)
        if blocking and not allow_change:
            listed = "; ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in blocking.items())
            raise ConfigChangeError(
                f"resuming {run_dir} would change its run-defining config: {listed}; resume "
                f"with the checkpoint's values, or pass --allow-config-change to apply the "
                f"change (recorded in run.json)")
        if any(k.startswith("model.") for k in blocking):
            _check_model_change(ckpt, state, new_config)
        previous = _read_run_json(run_dir, ckpt)
        entry = {"time": run_info["started"], "from_step": state["step"],
                 "git_commit": run_info["git_commit"]}
        if changes:
            entry["config_changes"] = {k: [a, b] for k, (a, b) in changes.items()}
        _check_metrics(run_dir, repair=False, log=log)
    adopt = _is_rhf_run(run_dir)
    try:
        check_claim(run_dir, KIND, OWNS, adopt=adopt)
    except NotOurFolder as exc:
        raise RunDirError(str(exc)) from None
    _check_writable(run_dir)
    if is_main:
        if ckpt is not None:
            _check_metrics(run_dir, repair=True, log=log)
            if previous is not None:
                previous.setdefault("resumes", []).append(entry)
                run_info = previous
        try:
            claim(run_dir, KIND, OWNS, commit=run_info.get("git_commit"), adopt=adopt)
            write_run_files(run_dir, config_yaml, run_info)
        except OSError as exc:
            raise RunDirError(f"cannot write to {run_dir}: {exc.strerror or exc}") from None
    return ckpt


def _is_rhf_run(run_dir: Path) -> bool:
    """A run folder written before marks existed: its run.json is a training run's."""
    try:
        info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(info, dict) and "objective" in info and "git_commit" in info


def _check_model_change(ckpt: Path, state: dict[str, Any], new_config: dict[str, Any]) -> None:
    """An allowed change of model.* must still fit the checkpoint's weights: checked here,
    from the new model's config, so a misfit is refused before anything is written (the
    full check on the loaded model follows in load_checkpoint)."""
    from transformers import AutoConfig

    model = new_config.get("model") or {}
    try:
        config = AutoConfig.from_pretrained(model.get("name_or_path") or "")
    except (OSError, ValueError):
        return  # cannot read it here; loading the model will say why
    lora_r = int(model.get("lora_r") or 0)
    targets = sorted(model.get("lora_target_modules") or []) if lora_r else []
    check_signature(ckpt, state, config_signature(config, lora_r, targets), recorded_only=True)


def _read_checkpoint_config(ckpt: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load((ckpt / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise corrupt_checkpoint(ckpt, exc) from None
    if not isinstance(loaded, dict):
        raise CheckpointError(f"checkpoint {ckpt}: config.yaml is not a mapping")
    return loaded


def _read_run_json(run_dir: Path, ckpt: Path) -> dict[str, Any] | None:
    """The run's run.json (None when absent); unreadable is one line naming the file."""
    path = run_dir / "run.json"
    if not path.exists():
        return None
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) else str(exc).splitlines()[0]
        raise RunDirError(f"{path} is unreadable ({detail}); restore it from "
                          f"{ckpt / 'run.json'} to resume (nothing was written)") from None
    return loaded


def _check_metrics(run_dir: Path, repair: bool, log: Any) -> None:
    """A bad line inside metrics.jsonl is an error naming it; a torn last line (a write cut
    short by a kill) is dropped when ``repair`` (main process only)."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return
    data = path.read_bytes()
    lines = data.split(b"\n")
    # lines[-1] is what follows the last newline: empty unless the last write was torn.
    torn_tail = lines[-1]
    complete = lines[:-1]
    bad_last = False
    for i, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            json.loads(line)
        except ValueError:
            if i == len(complete) and not torn_tail:
                bad_last = True  # a last line of zeros or junk: also a torn write
                continue
            raise RunDirError(f"{path}:{i}: invalid JSON; fix or delete that line to resume "
                              f"(nothing was written)") from None
    if not (torn_tail or bad_last) or not repair:
        return
    keep = data[:len(data) - len(torn_tail)]
    if bad_last:
        keep = keep[:keep.rstrip(b"\n").rfind(b"\n") + 1]
    atomic_write_bytes(path, keep)
    log(f"{path}: dropped a torn last line ({len(data) - len(keep)} bytes) left by an "
        f"interrupted write")


def _check_writable(run_dir: Path) -> None:
    """Create the folder and a probe file in it, so an unwritable folder fails here, once."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=run_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise RunDirError(f"cannot write to {run_dir}: {exc.strerror or exc}") from None
