"""Run files and checkpoints: written atomically, explained by their config, checked on load.

A checkpoint folder ``checkpoints/step-<N>/`` holds the model (``save_pretrained``,
safetensors; the adapter only with LoRA), the tokenizer, ``optimizer.pt``, ``scheduler.pt``,
``rng_state_<rank>.pt`` (tensors only, read with ``weights_only=True``),
``trainer_state.json`` (step, epoch, data position, objective, model signature), copies
of ``config.yaml`` and ``run.json``, and ``manifest.json`` with every file's sha256. It is
written under ``.tmp-step-<N>`` and renamed, so a kill during a save leaves the previous
checkpoint whole.

Before anything is written, :func:`prepare_run_dir` checks that the run folder may be used
as asked: no finished run is overwritten, a resumed checkpoint matches its manifest, a
resume does not silently change a run-defining key, run.json and metrics.jsonl are
readable. Each refusal is one line (:class:`CheckpointError` or a subclass).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from feedback_data.provenance import git_commit  # noqa: F401  (re-exported: run.json's commit)

CHECKPOINTS = "checkpoints"
STATE_FILE = "trainer_state.json"
MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.jsonl"
RUN_FILES = ("config.yaml", "run.json")
_STEP_RE = re.compile(r"^step-(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed: corrupt, incomplete or for another run."""


class RunDirError(CheckpointError):
    """A run folder that cannot be used as asked (finished, unwritable, unreadable files)."""


class ConfigChangeError(CheckpointError):
    """A resume whose run-defining config differs from the checkpoint's."""


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_run_files(run_dir: Path, config_yaml: str, run_info: dict[str, Any]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", config_yaml)
    atomic_write_text(run_dir / "run.json", json.dumps(run_info, indent=2) + "\n")


def model_signature(model: Any) -> dict[str, Any]:
    """What must match between a checkpoint and the model it is loaded into."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    c = base.config
    sig = {k: getattr(c, k, None) for k in ("model_type", "vocab_size", "d_model", "d_ff",
                                            "num_layers", "num_decoder_layers", "num_heads")}
    peft_cfg = getattr(model, "peft_config", {}).get("default")
    sig["lora_r"] = getattr(peft_cfg, "r", 0) if peft_cfg else 0
    sig["lora_target_modules"] = sorted(peft_cfg.target_modules) if peft_cfg else []
    return sig


# --- RNG states as plain tensors and numbers (loadable with weights_only=True) -----------

def rng_state() -> dict[str, Any]:
    py = random.getstate()
    np_kind, np_keys, np_pos, np_gauss, np_cached = np.random.get_state()
    state = {
        "python": {"version": py[0], "state": torch.tensor(py[1], dtype=torch.int64),
                   "gauss": py[2]},
        "numpy": {"keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos),
                  "has_gauss": int(np_gauss), "cached": float(np_cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --- saving ---------------------------------------------------------------------------------

def _sharded_backend(accelerator: Any) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)


def save_model_folder(folder: Path, accelerator: Any, model: Any, tokenizer: Any,
                      run_dir: Path) -> None:
    """save_pretrained (safetensors) + tokenizer + config.yaml/run.json copies; all ranks call."""
    state_dict = accelerator.get_state_dict(model) if _sharded_backend(accelerator) else None
    if accelerator.is_main_process:
        folder.mkdir(parents=True, exist_ok=True)
        unwrapped = accelerator.unwrap_model(model)
        kwargs = {"state_dict": state_dict} if state_dict is not None else {}
        unwrapped.save_pretrained(folder, safe_serialization=True, **kwargs)
        tokenizer.save_pretrained(folder)
        for name in RUN_FILES:
            shutil.copy2(run_dir / name, folder / name)


def _replace_dir(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``; an older ``final`` is moved aside first, then deleted."""
    old = final.with_name(f".old-{final.name}")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(run_dir: Path, accelerator: Any, model: Any, tokenizer: Any,
                    optimizer: Any, scheduler: Any, state: dict[str, Any], keep: int) -> Path:
    """Write ``checkpoints/step-<N>`` atomically and keep the newest ``keep`` of them."""
    root = run_dir / CHECKPOINTS
    final = root / f"step-{state['step']}"
    tmp = root / f".tmp-step-{state['step']}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    save_model_folder(tmp, accelerator, model, tokenizer, run_dir)
    if _sharded_backend(accelerator):
        # Sharded optimizer states are saved per rank by accelerate itself.
        accelerator.save_state(str(tmp / "accelerate_state"))
    elif accelerator.is_main_process:
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(rng_state(), tmp / f"rng_state_{accelerator.process_index}.pt")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        atomic_write_text(tmp / STATE_FILE, json.dumps(state, indent=2) + "\n")
        # The manifest last: the sha256 of every file, checked before a resume.
        write_manifest(tmp)
        _replace_dir(tmp, final)
        for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def save_final(run_dir: Path, accelerator: Any, model: Any, tokenizer: Any) -> Path:
    final = run_dir / "final"
    tmp = run_dir / ".tmp-final"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    save_model_folder(tmp, accelerator, model, tokenizer, run_dir)
    if accelerator.is_main_process:
        _replace_dir(tmp, final)
    accelerator.wait_for_everyone()
    return final


# --- manifest: each file's sha256, written with the checkpoint, checked on resume -----------

def write_manifest(folder: Path) -> None:
    """``manifest.json``: {"files": {relative path: sha256}} of every file in ``folder``."""
    from feedback_data.fetch import sha256_file

    files = {p.relative_to(folder).as_posix(): sha256_file(p)
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST_FILE
             and not p.name.endswith(".tmp")}
    atomic_write_text(folder / MANIFEST_FILE, json.dumps({"files": files}, indent=2) + "\n")


def verify_checkpoint(path: Path) -> None:
    """Every file listed in the manifest is there with its recorded sha256, else one line."""
    from feedback_data.fetch import sha256_file

    hint = "; delete it to resume from the checkpoint before it"
    try:
        files = json.loads((path / MANIFEST_FILE).read_text())["files"]
        if not isinstance(files, dict):
            raise ValueError("'files' is not a mapping")
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} has no {MANIFEST_FILE} (incomplete, or "
                              f"written before rhf recorded checksums){hint}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path}: {MANIFEST_FILE} is unreadable "
                              f"({type(exc).__name__}: {exc}){hint}") from None
    for rel, digest in files.items():
        f = path / rel
        if not f.is_file():
            raise CheckpointError(f"checkpoint {path} is missing {rel}{hint}")
        if sha256_file(f) != digest:
            raise CheckpointError(f"checkpoint {path}: {rel} does not match the sha256 "
                                  f"recorded when it was saved (corrupt){hint}")


# --- loading --------------------------------------------------------------------------------

def list_checkpoints(run_dir: Path) -> list[Path]:
    """Finished checkpoints, oldest first (unfinished ``.tmp-*`` folders are ignored)."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if (m := _STEP_RE.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def _corrupt(path: Path, exc: BaseException) -> CheckpointError:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return CheckpointError(f"checkpoint {path} is corrupt or incomplete "
                           f"({type(exc).__name__}: {first}); delete it to resume from the "
                           f"one before it")


def read_state(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / STATE_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise _corrupt(path, exc) from None


def check_compatible(path: Path, state: dict[str, Any], objective: str,
                     signature: dict[str, Any]) -> None:
    if state.get("objective") != objective:
        raise CheckpointError(f"checkpoint {path} is from a '{state.get('objective')}' run; "
                              f"this is a '{objective}' run")
    theirs = state.get("signature", {})
    diffs = [f"{k} {theirs.get(k)!r} there, {v!r} here" for k, v in signature.items()
             if theirs.get(k) != v]
    if diffs:
        raise CheckpointError(f"checkpoint {path} was written for another model: "
                              + "; ".join(diffs))


def _load_safetensors(path: Path, pattern: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    files = sorted(path.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no {pattern} in the folder")
    out: dict[str, torch.Tensor] = {}
    for f in files:
        out.update(load_file(f))
    return out


def load_weights(path: Path, model: Any) -> None:
    """Load the checkpoint's weights into ``model``, checking every name and shape first."""
    is_peft = hasattr(model, "peft_config")
    try:
        saved = _load_safetensors(path, "adapter_model*.safetensors" if is_peft
                                  else "model*.safetensors")
    except Exception as exc:  # noqa: BLE001 - any read failure means a corrupt checkpoint
        raise _corrupt(path, exc) from None
    if is_peft:
        from peft import get_peft_model_state_dict, set_peft_model_state_dict

        expected = {k: v.shape for k, v in get_peft_model_state_dict(model).items()}
    else:
        own = model.state_dict()
        expected = {k: v.shape for k, v in own.items()}
    wrong = [f"{k}: {tuple(v.shape)} there, {tuple(expected[k])} here"
             for k, v in saved.items() if k in expected and tuple(v.shape) != tuple(expected[k])]
    unknown = [k for k in saved if k not in expected]
    if wrong or unknown:
        detail = (wrong or [f"unexpected weight {unknown[0]}"])[0]
        raise CheckpointError(f"checkpoint {path} does not fit this model ({detail}"
                              f"{' and more' if len(wrong) + len(unknown) > 1 else ''})")
    if is_peft:
        set_peft_model_state_dict(model, saved)
        return
    # Tied weights (T5's encoder/decoder embed_tokens = shared) may be saved only once.
    ptrs = {own[k].data_ptr() for k in saved}
    missing = [k for k in expected if k not in saved and own[k].data_ptr() not in ptrs]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks weight {missing[0]}")
    model.load_state_dict(saved, strict=False)


def load_checkpoint(path: Path, accelerator: Any, model: Any, optimizer: Any, scheduler: Any,
                    objective: str, signature: dict[str, Any]) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and RNG from ``path``; returns its trainer state.

    The optimizer and scheduler were just built from this run's config, so their
    hyperparameters (peak lr, betas, eps, weight decay) are the config's; the checkpoint
    brings back their state (moments, step count) and the config's hyperparameters are
    put back on top. Unchanged, this is a no-op; after an allowed change of train.lr the
    next step uses the new lr at the same point of the schedule.
    """
    state = read_state(path)
    check_compatible(path, state, objective, signature)
    configured = _hyperparameters(optimizer, scheduler)
    if (path / "accelerate_state").is_dir():
        accelerator.load_state(str(path / "accelerate_state"))
    else:
        load_weights(path, accelerator.unwrap_model(model))
        try:
            optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
        except Exception as exc:  # noqa: BLE001
            raise _corrupt(path, exc) from None
    try:
        scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
        rng_file = path / f"rng_state_{accelerator.process_index}.pt"
        if not rng_file.exists():
            rng_file = path / "rng_state_0.pt"
        set_rng_state(torch.load(rng_file, weights_only=True))
    except Exception as exc:  # noqa: BLE001
        raise _corrupt(path, exc) from None
    _apply_hyperparameters(optimizer, scheduler, configured)
    return state


_HYPER_KEYS = ("initial_lr", "betas", "eps", "weight_decay")


def _hyperparameters(optimizer: Any, scheduler: Any) -> dict[str, Any]:
    return {"groups": [{k: g[k] for k in _HYPER_KEYS if k in g}
                       for g in optimizer.param_groups],
            "base_lrs": list(scheduler.base_lrs)}


def _apply_hyperparameters(optimizer: Any, scheduler: Any, configured: dict[str, Any]) -> None:
    """Put the config's hyperparameters back after a state restore; recompute the current lr
    from the (config's) schedule at the restored step."""
    restored_base = list(scheduler.base_lrs)
    scheduler.base_lrs = list(configured["base_lrs"])
    lambdas = getattr(scheduler, "lr_lambdas", None)
    lrs = []
    for i, (group, wanted) in enumerate(zip(optimizer.param_groups, configured["groups"],
                                            strict=True)):
        group.update(wanted)
        base = scheduler.base_lrs[i]
        if lambdas is not None:
            group["lr"] = base * lambdas[i](scheduler.last_epoch)
        elif restored_base[i] != base:
            group["lr"] = group["lr"] * base / restored_base[i]
        lrs.append(group["lr"])
    scheduler._last_lr = lrs


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
    from training.config import config_changes, run_defining

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
        if state.get("objective") != new_config.get("objective"):
            raise CheckpointError(f"checkpoint {ckpt} is from a '{state.get('objective')}' "
                                  f"run; this is a '{new_config.get('objective')}' run")
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
    _check_writable(run_dir)
    if is_main:
        if ckpt is not None:
            _check_metrics(run_dir, repair=True, log=log)
            if previous is not None:
                previous.setdefault("resumes", []).append(entry)
                run_info = previous
        try:
            write_run_files(run_dir, config_yaml, run_info)
        except OSError as exc:
            raise RunDirError(f"cannot write to {run_dir}: {exc.strerror or exc}") from None
    return ckpt


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
    signature = {k: getattr(config, k, None) for k in ("model_type", "vocab_size", "d_model",
                                                       "d_ff", "num_layers",
                                                       "num_decoder_layers", "num_heads")}
    signature["lora_r"] = lora_r
    signature["lora_target_modules"] = sorted(model.get("lora_target_modules") or []) \
        if lora_r else []
    theirs = state.get("signature", {})
    diffs = [f"{k} {theirs.get(k)!r} there, {v!r} here" for k, v in signature.items()
             if k in theirs and theirs.get(k) != v]
    if diffs:
        raise CheckpointError(f"checkpoint {ckpt} was written for another model: "
                              + "; ".join(diffs))


def _read_checkpoint_config(ckpt: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load((ckpt / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise _corrupt(ckpt, exc) from None
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
