"""Checkpoints: saved atomically, explained by their config, checked on load; with the
folder manifest, the RNG state and the one-line refusals, so ``--resume``'s checkpoint side
reads in this one file (the run folder's side is :mod:`training.run.run_folder`).

A checkpoint folder ``checkpoints/step-<N>/`` holds the model (``save_pretrained``,
safetensors; the adapter only with LoRA), the tokenizer, ``optimizer.pt``, ``scheduler.pt``,
``rng_state_<rank>.pt`` (tensors only, read with ``weights_only=True``),
``trainer_state.json`` (step, epoch, data position, objective, model signature), copies
of ``config.yaml`` and ``run.json``, and ``manifest.json`` with every file's sha256. It is
written under ``.tmp-step-<N>`` and renamed, so a kill during a save leaves the previous
checkpoint whole. ``final/`` is written the same way, with its own manifest. A full disk
during a save removes the half-written folder and is one line
(:mod:`training.run.checkpoint_room`).
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from feedback_data.files.io import read_utf8, replace_folder, sha256_file, write_text
from training.run.checkpoint_room import room_checked

# The run folder's own files, copied into every checkpoint and final folder.
RUN_FILES = ("config.yaml", "run.json")
CHECKPOINTS = "checkpoints"
STATE_FILE = "trainer_state.json"
_STEP_RE = re.compile(r"^step-(\d+)$")
# The model config's keys that a checkpoint must share with the model it is loaded into.
SIGNATURE_KEYS = ("model_type", "vocab_size", "d_model", "d_ff", "num_layers",
                  "num_decoder_layers", "num_heads")


def config_signature(config: Any, lora_r: int, lora_target_modules: list[str]
                     ) -> dict[str, Any]:
    """The signature of a model config (a transformers config) with its LoRA settings."""
    sig = {k: getattr(config, k, None) for k in SIGNATURE_KEYS}
    sig["lora_r"] = lora_r
    sig["lora_target_modules"] = lora_target_modules
    return sig


def model_signature(model: Any) -> dict[str, Any]:
    """What must match between a checkpoint and the model it is loaded into."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    peft_cfg = getattr(model, "peft_config", {}).get("default")
    return config_signature(base.config, getattr(peft_cfg, "r", 0) if peft_cfg else 0,
                            sorted(peft_cfg.target_modules) if peft_cfg else [])


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


@room_checked("checkpoint", previous=lambda a: (list_checkpoints(a["run_dir"]) or [None])[-1],
              tmp=lambda a: Path(a["run_dir"]) / CHECKPOINTS / f".tmp-step-{a['state']['step']}")
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
        write_text(tmp / STATE_FILE, json.dumps(state, indent=2) + "\n")
        # The manifest last: the sha256 of every file, checked before a resume.
        write_manifest(tmp)
        replace_folder(tmp, final, aside=final.with_name(f".old-{final.name}"))
        for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


@room_checked("final/", previous=lambda a: (list_checkpoints(a["run_dir"]) or [None])[-1],
              tmp=lambda a: Path(a["run_dir"]) / f".tmp-{a.get('name', 'final')}")
def save_final(run_dir: Path, accelerator: Any, model: Any, tokenizer: Any,
               name: str = "final") -> Path:
    """Write ``final/`` (model, tokenizer, run files, manifest.json) atomically; ``name``
    "best" writes the best model so far (``train.select_by``) the same way."""
    final = run_dir / name
    tmp = run_dir / f".tmp-{name}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    save_model_folder(tmp, accelerator, model, tokenizer, run_dir)
    if accelerator.is_main_process:
        write_manifest(tmp)  # checkable like a checkpoint: `rhf train verify RUN_DIR/final`
        replace_folder(tmp, final, aside=final.with_name(f".old-{final.name}"))
    accelerator.wait_for_everyone()
    return final


BEST = "best"


def promote_best(run_dir: Path, accelerator: Any) -> Path:
    """``final/`` becomes a copy of ``best/`` with the run's current run files, atomically
    (``best/`` stays, so a resumed run keeps comparing against it)."""
    final, tmp = run_dir / "final", run_dir / ".tmp-final"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(run_dir / BEST, tmp)
        for name in RUN_FILES:
            shutil.copy2(run_dir / name, tmp / name)
        write_manifest(tmp)
        replace_folder(tmp, final, aside=final.with_name(f".old-{final.name}"))
    accelerator.wait_for_everyone()
    return final


# --- loading --------------------------------------------------------------------------------

def list_checkpoints(run_dir: Path) -> list[Path]:
    """Finished checkpoints, oldest first (unfinished ``.tmp-*`` folders are ignored)."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if (m := _STEP_RE.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]



def read_state(path: Path) -> dict[str, Any]:
    try:
        return json.loads(read_utf8(path / STATE_FILE))
    except (OSError, ValueError) as exc:
        raise corrupt_checkpoint(path, exc) from None


def check_objective(path: Path, state: dict[str, Any], objective: str) -> None:
    if state.get("objective") != objective:
        raise CheckpointError(f"checkpoint {path} is from a '{state.get('objective')}' run; "
                              f"this is a '{objective}' run")


def check_signature(path: Path, state: dict[str, Any], signature: dict[str, Any],
                    recorded_only: bool = False) -> None:
    """The checkpoint's model signature equals ``signature`` (only on the keys the checkpoint
    recorded, with ``recorded_only``), else one line listing the differences."""
    theirs = state.get("signature", {})
    diffs = [f"{k} {theirs.get(k)!r} there, {v!r} here" for k, v in signature.items()
             if (k in theirs or not recorded_only) and theirs.get(k) != v]
    if diffs:
        raise CheckpointError(f"checkpoint {path} was written for another model: "
                              + "; ".join(diffs))


def check_compatible(path: Path, state: dict[str, Any], objective: str,
                     signature: dict[str, Any]) -> None:
    check_objective(path, state, objective)
    check_signature(path, state, signature)


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
        raise corrupt_checkpoint(path, exc) from None
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
            raise corrupt_checkpoint(path, exc) from None
    try:
        scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
        rng_file = path / f"rng_state_{accelerator.process_index}.pt"
        if not rng_file.exists():
            rng_file = path / "rng_state_0.pt"
        set_rng_state(torch.load(rng_file, weights_only=True))
    except Exception as exc:  # noqa: BLE001
        raise corrupt_checkpoint(path, exc) from None
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


# --- refusals: every one a CheckpointError --------------------------------------------------

class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed: corrupt, incomplete or for another run."""


class RunDirError(CheckpointError):
    """A run folder that cannot be used as asked (finished, unwritable, unreadable files)."""


class ConfigChangeError(CheckpointError):
    """A resume whose run-defining config differs from the checkpoint's."""


def corrupt_checkpoint(path: Path, exc: BaseException) -> CheckpointError:
    """A file of the checkpoint could not be read: one line naming it and what to do."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return CheckpointError(f"checkpoint {path} is corrupt or incomplete "
                           f"({type(exc).__name__}: {first}); delete it to resume from the "
                           f"one before it")


# --- RNG state, as plain tensors and numbers (loads with weights_only=True) -----------------

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


# --- manifest.json: the sha256 of every file, written last, checked before trust ------------

MANIFEST_FILE = "manifest.json"


def write_manifest(folder: Path) -> None:
    """``manifest.json``: {"files": {relative path: sha256}} of every file in ``folder``."""
    files = {p.relative_to(folder).as_posix(): sha256_file(p)
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST_FILE
             and not p.name.endswith(".tmp")}
    write_text(folder / MANIFEST_FILE, json.dumps({"files": files}, indent=2) + "\n")


def verify_checkpoint(path: Path, what: str = "checkpoint",
                      hint: str = "; delete it to resume from the checkpoint before it") -> int:
    """Every file listed in the manifest is there with its recorded sha256, else one line
    naming ``what`` (a checkpoint, a final folder) and ending with ``hint``. Returns how many
    files were checked."""
    try:
        files = json.loads(read_utf8(path / MANIFEST_FILE))["files"]
        if not isinstance(files, dict):
            raise ValueError("'files' is not a mapping")
    except FileNotFoundError:
        raise CheckpointError(f"{what} {path} has no {MANIFEST_FILE} (incomplete, or "
                              f"written before rhf recorded checksums){hint}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{what} {path}: {MANIFEST_FILE} is unreadable "
                              f"({type(exc).__name__}: {exc}){hint}") from None
    for rel, digest in files.items():
        f = path / rel
        if not f.is_file():
            raise CheckpointError(f"{what} {path} is missing {rel}{hint}")
        if sha256_file(f) != digest:
            raise CheckpointError(f"{what} {path}: {rel} does not match the sha256 "
                                  f"recorded when it was saved (corrupt){hint}")
    return len(files)


def update_manifest(folder: Path, rel: str) -> None:
    """Record the current sha256 of one file (``rel``) in ``folder``'s manifest, e.g. after
    the model card is written or appended to; the other entries are kept as they are."""
    path = folder / MANIFEST_FILE
    try:
        manifest = json.loads(read_utf8(path))
        files = manifest["files"]
        if not isinstance(files, dict):
            raise ValueError("'files' is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{folder}: {MANIFEST_FILE} is unreadable "
                              f"({type(exc).__name__}: {exc})") from None
    files[rel] = sha256_file(folder / rel)
    manifest["files"] = dict(sorted(files.items()))
    write_text(path, json.dumps(manifest, indent=2) + "\n")
