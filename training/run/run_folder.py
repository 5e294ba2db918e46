"""The run folder: checked before anything is written, held while the run lasts.

Checked (:func:`prepare_run_dir`): no finished run is overwritten, a resumed checkpoint
matches its manifest, a resume does not silently change a run-defining key (the rules:
:data:`CHANGEABLE_ON_RESUME`, :func:`config_changes`), run.json and metrics.jsonl are
readable, the folder is writable, no file of the user's is overwritten. Each refusal is one
line (:class:`RunDirError`, :class:`ConfigChangeError` or :class:`CheckpointError`). Once the
checks pass the folder is marked as a training run's (``.rhf-run``,
:mod:`feedback_data.files.run_mark`) and config.yaml and run.json are written.

Held (:func:`guard_run`, wrapping the whole run): one writer (the lock), the stop signals,
and the one-line endings (a second writer, a full disk, a second Ctrl-C). Rank 0 takes
``<run_dir>/.lock`` (other ranks of a data-parallel run share the run and take nothing; a
rank-0 refusal ends the launch, whose agent stops the other ranks). A second writer is
refused at once naming the holder's pid and command; the kernel frees the lock of a killed
holder. The mark names what a training run owns, so a demo that clears a run folder deletes
only those entries.

Claimed by a launcher (:func:`claim_run_dir`, :func:`clear_run_dir`): a caller that starts a
run in a folder it keeps its own files in (a demo's training stage, its stage key) clears and
claims the folder through these, once; the run it then starts there does not claim it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from feedback_data.files.disk_full import DiskFull, disk_full, is_disk_full
from feedback_data.files.io import NotUtf8, read_utf8, write_bytes, write_text
from feedback_data.files.run_mark import NotOurFolder, check_claim, claim, clear, take_over
from feedback_data.files.write_lock import OutputLocked, acquire, folder_lock, release
from training.run.checkpoint import (
    CheckpointError,
    ConfigChangeError,
    RunDirError,
    check_objective,
    check_signature,
    config_signature,
    corrupt_checkpoint,
    list_checkpoints,
    read_state,
    verify_checkpoint,
)
from training.run.config import GROUPS, RecipeConfig, to_dict
from training.run.metrics_log import METRICS_FILE
from training.run.stop_signals import RunInterrupted, StopSignals, resume_command
from training.run.world import recorded_world, world_change_message, world_changes

KIND = "rhf train"
# Every top-level entry a training run writes (what `rhf demo` may clear in a run folder).
OWNS = ("config.yaml", "run.json", "metrics.jsonl", "checkpoints", "final", "tensorboard",
        ".tmp-final", ".old-final", "best", ".tmp-best", ".old-best", "trackers.json",
        "wandb")


def clear_run_dir(run_dir: Path, also: Sequence[str] = (), legacy: bool = False) -> list[str]:
    """Delete what a training run wrote in ``run_dir`` (and ``also``: what its launcher
    keeps there), refusing a folder holding anything else (nothing deleted,
    :func:`feedback_data.files.run_mark.clear`); returns the names deleted. ``legacy``: the
    caller knows the folder for a training run's from before marks existed."""
    return clear(run_dir, KIND, assume={"kind": KIND, "owns": [*OWNS, *also]}
                 if legacy else None)


def claim_run_dir(run_dir: Path, also: Sequence[str] = (), commit: str | None = None,
                  adopt: bool = False) -> None:
    """Mark ``run_dir`` as a training run's, owning what the run writes and ``also`` (its
    launcher's files there), before the launcher starts the run: that run's
    :func:`prepare_run_dir` does not claim it again. ``adopt``: as in
    :func:`~feedback_data.files.run_mark.claim`."""
    claim(run_dir, KIND, [*OWNS, *also], commit=commit, adopt=adopt, ahead=True)


def is_main_rank() -> bool:
    """Rank 0 of a launch (``RANK`` as torchrun and accelerate set it), or a lone process."""
    return os.environ.get("RANK", "0") == "0"


def kept(run_dir: Path) -> str:
    """What a stopped run leaves to resume from."""
    latest = list_checkpoints(run_dir)
    return (f"kept checkpoint {latest[-1]} (valid)" if latest
            else "no checkpoint was written yet")


@contextlib.contextmanager
def guard_run(run_dir: Path) -> Iterator[StopSignals]:
    """Hold ``run_dir`` for a run: its lock (rank 0), SIGINT/SIGTERM as a stop after the
    current step. A full disk anywhere in the run, a second writer and a second Ctrl-C end
    it with one line (:class:`DiskFull`, :class:`RunDirError`, :class:`RunInterrupted`)."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"output folder {run_dir} is a file")
    created = not run_dir.exists()
    lock = None
    try:
        if is_main_rank():
            try:
                lock = acquire(folder_lock(run_dir), str(run_dir),
                               "wait for it to finish, or choose another --out "
                               "(nothing was written)")
            except OutputLocked as exc:
                raise RunDirError(str(exc)) from None
            except OSError as exc:
                raise RunDirError(f"cannot write to {run_dir}: {exc.strerror or exc}") from None
        with StopSignals() as stop:
            try:
                yield stop
            except KeyboardInterrupt:
                if stop.count < 2:
                    raise
                message = (f"stopped at once by a second signal; {kept(run_dir)}; resume "
                           f"with: {resume_command(_num_processes())}")
                if is_main_rank():
                    print(message, flush=True)
                raise RunInterrupted(message, stop.signum or 2) from None
    except NotOurFolder as exc:
        raise RunDirError(str(exc)) from None
    except (DiskFull, RunInterrupted, RunDirError):
        raise
    except Exception as exc:
        if not is_disk_full(exc, run_dir):
            raise
        raise disk_full(run_dir, None, f"{kept(run_dir)}; free some room, then resume with: "
                        f"{resume_command(_num_processes())}") from None
    finally:
        if lock is not None:
            release(lock)
        if created and is_main_rank():
            with contextlib.suppress(OSError):  # not empty: the run wrote something
                run_dir.rmdir()  # a run refused before writing leaves no empty folder behind


def _num_processes() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


# --- which keys a resumed run may change ----------------------------------------------------

# Keys a resumed run may change without --allow-config-change: they decide how often the
# run logs, evaluates and saves, how it shows progress and where it lives, never what it
# computes. Every other key (present or added later) is run-defining: a resume that changes
# one is refused unless train.allow_config_change is set, and the change lands in run.json.
CHANGEABLE_ON_RESUME = frozenset({
    "train.output_dir", "train.resume", "train.allow_config_change",
    "train.allow_world_change", "train.log_every",
    "train.eval_every", "train.save_every", "train.keep_checkpoints", "train.report_to",
    "train.tracker_project", "train.progress_bar", "train.step_sleep",
    "model.gradient_checkpointing",
})


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and k in GROUPS and not prefix:
            out.update(_flatten(v, f"{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Keys whose values differ between two configs (as in config.yaml), with (old, new).

    A key missing from the old config (a field added since) counts as its default; a key
    this version no longer knows is left out, and so are the launch modes (resume,
    allow_config_change), which say how this launch treats the run, not what it computes.
    """
    defaults = _flatten(to_dict(RecipeConfig()))
    before, after = _flatten(old or {}), _flatten(new)
    changes = {}
    for key in defaults:
        if key in ("train.resume", "train.allow_config_change", "train.allow_world_change"):
            continue
        a, b = before.get(key, defaults[key]), after.get(key, defaults[key])
        if a != b:
            changes[key] = (a, b)
    return changes


def run_defining(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes that alter what a run computes (all but CHANGEABLE_ON_RESUME)."""
    return {k: v for k, v in changes.items() if k not in CHANGEABLE_ON_RESUME}


# --- the checks before a run starts, and its files ------------------------------------------

def prepare_run_dir(run_dir: Path, resume: bool, config_yaml: str, run_info: dict[str, Any],
                    is_main: bool, log: Any = print) -> Path | None:
    """Check the run folder, then write config.yaml and run.json; return the checkpoint to
    resume from, if any. Every rank runs the checks (so all refuse together); only the main
    process writes, and only once every check has passed.

    Refused, with one line and nothing written: a folder holding checkpoints or a finished
    ``final/`` without ``resume``; a resume whose checkpoint does not match its manifest;
    a resume whose run-defining keys differ from the checkpoint's config, unless
    ``train.allow_config_change`` (the change is then recorded in run.json); a resume in
    another world (process count, global batch, precision, device: training.run.world),
    unless ``train.allow_world_change`` (recorded in run.json likewise); an unreadable
    run.json; a bad line inside metrics.jsonl; a folder that cannot be written. A torn last
    line of metrics.jsonl (a write cut by a kill) is dropped, and said so. The folder is
    marked as a training run's here, unless its launcher claimed it (:func:`claim_run_dir`).
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"output folder {run_dir} is a file")
    new_config = yaml.safe_load(config_yaml)
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
        previous, entry = _check_resume(run_dir, ckpt, new_config, run_info, log)
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
                # the world from here on is this launch's (the change is in the entry)
                for key in ("world", "num_processes", "distributed_type", "mixed_precision"):
                    if key in run_info:
                        previous[key] = run_info[key]
                run_info = previous
        try:
            if not take_over(run_dir, KIND):  # else its launcher claimed it (claim_run_dir)
                claim(run_dir, KIND, OWNS, commit=run_info.get("git_commit"), adopt=adopt)
            write_run_files(run_dir, config_yaml, run_info)
        except OSError as exc:
            raise RunDirError(f"cannot write to {run_dir}: {exc.strerror or exc}") from None
    return ckpt


def _check_resume(run_dir: Path, ckpt: Path, new_config: dict[str, Any],
                  run_info: dict[str, Any], log: Any
                  ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The checks of a resume from ``ckpt`` (manifest, objective, config and world changes,
    metrics.jsonl); returns the run's run.json and this launch's entry for its resumes."""
    allow_change = bool((new_config.get("train") or {}).get("allow_config_change"))
    allow_world = bool((new_config.get("train") or {}).get("allow_world_change"))
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
    moved = world_changes(recorded_world(state, previous), run_info.get("world") or {})
    if moved and not allow_world:
        raise ConfigChangeError(world_change_message(run_dir, moved))
    entry = {"time": run_info["started"], "from_step": state["step"],
             "git_commit": run_info["git_commit"]}
    if changes:
        entry["config_changes"] = {k: [a, b] for k, (a, b) in changes.items()}
    if moved:
        entry["world_changes"] = {k: [a, b] for k, (a, b) in moved.items()}
    _check_metrics(run_dir, repair=False, log=log)
    return previous, entry


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
        loaded = yaml.safe_load(read_utf8(ckpt / "config.yaml"))
    except NotUtf8 as exc:
        raise CheckpointError(f"checkpoint {ckpt}: {exc}") from None
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
    write_bytes(path, keep)
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


def write_run_files(run_dir: Path, config_yaml: str, run_info: dict[str, Any]) -> None:
    """The run folder's own files, config.yaml and run.json, each written atomically."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / "config.yaml", config_yaml)
    write_text(run_dir / "run.json", json.dumps(run_info, indent=2) + "\n")
