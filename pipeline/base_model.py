"""Build the demo's base model: pre-train the tiny T5, check it, record how it was made.

The record (``base_record.json`` beside the weights) holds the pre-training config, seed,
commit, device, time and the base's k-shot CoT accuracy on the Sports validation questions
(the paper's Sports training questions, never trained on) and on both dev sets.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedback_data.files.io import atomic_folder, write_json
from training.recipe.pretrain import PretrainConfig, pretrain_tiny

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_BASE = ROOT / "models" / "tiny-base"
RECORD = "base_record.json"
# What a model folder needs to load (weights, config, tokenizer) plus its record.
SHIPPED_FILES = ("model.safetensors", "config.json", "generation_config.json",
                 "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                 "rhf_model.json", RECORD)


def majority_class(examples: list) -> float:
    """The share of the more frequent gold answer."""
    return max(sum(e.answer == a for e in examples) for a in ("yes", "no")) / len(examples)


def cot_accuracy(model: str | Path, k: int = 0, batch_size: int = 128,
                 max_new_tokens: int = 48, limit: int | None = None) -> dict[str, Any]:
    """Greedy k-shot CoT accuracy (seed-0 shots) of ``model`` on the validation and dev sets
    (the first ``limit`` questions of each when given)."""
    from feedback_data.sources.splits import dev_examples
    from feedback_data.tasks.prompts import default_shots
    from inference.backends import Backend
    from inference.methods import run_cot
    from training.data.pretrain_data import sports_validation_examples

    backend = Backend.load(str(model), batch_size=batch_size)
    sets = {"sports_understanding/validation": sports_validation_examples(),
            "sports_understanding/dev": dev_examples("sports_understanding"),
            "strategyqa/dev": dev_examples("strategyqa")}
    result: dict[str, Any] = {}
    for name, examples in sets.items():
        examples = examples[:limit] if limit else examples
        task = name.split("/")[0]
        preds = run_cot(backend, examples, task, default_shots(task, k, seed=0),
                        max_new_tokens=max_new_tokens, batch_size=batch_size)
        right = sum(p.answer == e.answer for p, e in zip(preds, examples, strict=True))
        result[name] = {"n": len(examples), "accuracy": right / len(examples),
                        "majority_class": majority_class(examples),
                        "unparsed": sum(p.answer is None for p in preds)}
    return result


def build_base(out: str | Path, cfg: PretrainConfig | None = None,
               ship_to: str | Path | None = None, check_limit: int | None = None,
               log=print) -> dict[str, Any]:
    """Pre-train, check and record the base; copy it to ``ship_to`` when given."""
    import torch

    from feedback_data.records.provenance import git_commit

    cfg = cfg or PretrainConfig()
    out = Path(out)
    started = time.perf_counter()
    final = pretrain_tiny(out, cfg)
    train_seconds = time.perf_counter() - started
    log(f"pre-trained in {train_seconds:.0f} s; checking CoT accuracy ...")
    metrics = cot_accuracy(final, k=cfg.k, limit=check_limit)
    record = {
        "command": "rhf model pretrain-tiny " + " ".join(sys.argv[3:]) if sys.argv[1:3] == [
            "model", "pretrain-tiny"] else None,
        "config": asdict(cfg),
        "seed": cfg.seed,
        "git_commit": git_commit(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else
        f"cpu ({torch.get_num_threads()} threads)",
        "python": platform.python_version(), "torch": torch.__version__,
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "parameters": _parameters(final),
        "metrics": metrics,
        "train_run": str(out / "run"),
    }
    write_json(Path(final) / RECORD, record)
    for name, m in metrics.items():
        log(f"{name}: CoT accuracy {m['accuracy']:.3f} (n={m['n']}, majority class "
            f"{m['majority_class']:.3f}, unparsed {m['unparsed']})")
    if ship_to is not None:
        ship(final, Path(ship_to))
        log(f"shipped the base to {ship_to}")
    return record


def ship(model_dir: Path, dest: Path) -> None:
    """Copy the loadable files and the record to ``dest`` (replaced as a whole)."""
    with atomic_folder(dest, ours=lambda p: (p / RECORD).is_file()) as tmp:
        tmp.mkdir()
        for name in SHIPPED_FILES:
            if (model_dir / name).exists():
                shutil.copy2(model_dir / name, tmp / name)


def _parameters(model_dir: str | Path) -> int:
    from safetensors import safe_open

    with safe_open(str(Path(model_dir) / "model.safetensors"), "pt") as fh:
        return sum(_numel(fh.get_slice(k).get_shape()) for k in fh.keys())


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def read_record(model_dir: str | Path) -> dict[str, Any] | None:
    path = Path(model_dir) / RECORD
    return json.loads(path.read_text()) if path.exists() else None
