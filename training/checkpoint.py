"""Run files and checkpoints: written atomically, explained by their config, checked on load.

A checkpoint folder ``checkpoints/step-<N>/`` holds the model (``save_pretrained``,
safetensors; the adapter only with LoRA), the tokenizer, ``optimizer.pt``, ``scheduler.pt``,
``rng_state_<rank>.pt`` (tensors only, read with ``weights_only=True``),
``trainer_state.json`` (step, epoch, data position, objective, model signature) and copies
of ``config.yaml`` and ``run.json``. It is written under ``.tmp-step-<N>`` and renamed, so a
kill during a save leaves the previous checkpoint whole.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from feedback_data.provenance import git_commit  # noqa: F401  (re-exported: run.json's commit)

CHECKPOINTS = "checkpoints"
STATE_FILE = "trainer_state.json"
RUN_FILES = ("config.yaml", "run.json")
_STEP_RE = re.compile(r"^step-(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed: corrupt, incomplete or for another run."""


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
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
        # trainer_state.json last: a folder without it was never finished.
        atomic_write_text(tmp / STATE_FILE, json.dumps(state, indent=2) + "\n")
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
    """Restore model, optimizer, scheduler and RNG from ``path``; returns its trainer state."""
    state = read_state(path)
    check_compatible(path, state, objective, signature)
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
    return state


def prepare_run_dir(run_dir: Path, resume: bool, config_yaml: str, run_info: dict[str, Any],
                    is_main: bool) -> Path | None:
    """Write config.yaml and run.json; return the checkpoint to resume from, if any.

    A run folder that already holds checkpoints is only reused with ``resume``; a resumed
    run keeps its run.json (start time, seed, commit) and notes the resume in it.
    """
    latest = list_checkpoints(run_dir)
    if latest and not resume:
        raise CheckpointError(f"{run_dir} already holds checkpoints: pass --resume to continue "
                              f"it, or choose another --out")
    ckpt = latest[-1] if resume and latest else None
    if is_main:
        if ckpt is not None and (run_dir / "run.json").exists():
            previous = json.loads((run_dir / "run.json").read_text())
            previous.setdefault("resumes", []).append(
                {"time": run_info["started"], "from_step": read_state(ckpt)["step"],
                 "git_commit": run_info["git_commit"]})
            run_info = previous
        write_run_files(run_dir, config_yaml, run_info)
    return ckpt
