"""`run_eval(config)`: every method on every task and seed, calibration, then the report."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.metrics import accuracy, mean_std
from feedback_data.schema import TASKS
from inference.methods import (
    DEFAULT_N,
    DEFAULT_ROUNDS,
    DEFAULT_TEMPERATURE,
    DEFAULT_W,
    METHODS,
    Prediction,
)

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class EvalConfig:
    """What `rhf eval` runs. Models take a hub id, a model folder or a training RUN_DIR."""

    model: str  # multitask-trained checkpoint: multitask, wsc, fine-tuned calibration
    out: Path  # report folder
    base_model: str | None = None  # cot, refine's starting chains, ICL calibration (default: model)
    refine_model: str | None = None  # refine-trained checkpoint (default: model)
    methods: tuple[str, ...] = METHODS
    tasks: tuple[str, ...] = TASKS
    seeds: tuple[int, ...] = (0,)
    limit: int | None = None  # first N dev examples per task
    k: int = 4  # shots in the CoT prompt
    n: int = DEFAULT_N  # wsc samples per question
    w: float = DEFAULT_W  # wsc weight of a sample critiqued as erroneous
    temperature: float = DEFAULT_TEMPERATURE  # wsc sampling temperature
    rounds: int = DEFAULT_ROUNDS  # refine: maximum rounds
    batch_size: int = 64  # sequences per generate call
    max_new_tokens: int = 64  # cap on a generated chain
    calibration: bool = True  # run error-detection calibration
    calibration_limit: int | None = None  # first N calibration records (default: all 173)
    plots: bool = True
    threads: int | None = None  # torch CPU threads (None: torch's default)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form, copied into the report

    def check(self) -> None:
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise ValueError(f"unknown method {bad[0]!r}: expected some of {', '.join(METHODS)}")
        bad = [t for t in self.tasks if t not in TASKS]
        if bad:
            raise ValueError(f"unknown task {bad[0]!r}: expected some of {', '.join(TASKS)}")
        if not self.methods or not self.tasks or not self.seeds:
            raise ValueError("need at least one method, task and seed")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be >= 1, got {self.limit}")
        if self.n < 1 or self.rounds < 1 or self.k < 0 or not 0 <= self.w <= 1:
            raise ValueError("need n >= 1, rounds >= 1, k >= 0 and 0 <= w <= 1")
        if self.temperature <= 0:
            raise ValueError(f"--temperature must be > 0, got {self.temperature}")


def git_commit() -> dict[str, Any]:
    """The commit the report was made at, and whether tracked files differed from it."""
    from training.checkpoint import git_commit as commit_with_dirty_flag

    sha = commit_with_dirty_flag()
    if sha is None:
        return {"commit": None, "dirty": None}
    return {"commit": sha.removesuffix("-dirty"), "dirty": sha.endswith("-dirty")}


class _Models:
    """Load each distinct model once."""

    def __init__(self, config: EvalConfig) -> None:
        self.config = config
        self.cache: dict[str, Any] = {}

    def get(self, spec: str) -> Any:
        from inference.backends import Backend

        if spec not in self.cache:
            self.cache[spec] = Backend.load(spec, batch_size=self.config.batch_size)
        return self.cache[spec]


def _save_predictions(path: Path, examples: list, preds: list[Prediction]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for ex, p in zip(examples, preds, strict=True):
            fh.write(json.dumps({"example_id": ex.id, "gold": ex.answer, "answer": p.answer,
                                 "text": p.text, "meta": p.meta}, ensure_ascii=False) + "\n")


def run_eval(config: EvalConfig, log=print) -> dict[str, Any]:
    """Run the evaluation and write report.json, report.md and plots into ``config.out``.

    Returns the report (the content of report.json).
    """
    import torch

    from eval.calibration import calibrate
    from eval.report import write_report
    from feedback_data.splits import calibration_items, dev_examples
    from inference.methods import run_cot, run_multitask, run_refine, run_wsc
    from inference.prompts import default_shots, prompt_id

    config.check()
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    base_spec = config.base_model or config.model
    refine_spec = config.refine_model or config.model
    models = _Models(config)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    runs: list[dict[str, Any]] = []
    cfg = config.max_new_tokens, config.batch_size

    def timed(name: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
        return result

    for task in config.tasks:
        examples = dev_examples(task)[:config.limit] if config.limit else dev_examples(task)
        gold = [ex.answer for ex in examples]
        greedy_multitask: list[Prediction] | None = None
        for seed in config.seeds:
            shots = default_shots(task, config.k, seed=seed)
            cot_preds: list[Prediction] | None = None
            for method in config.methods:
                log(f"[eval] {task} seed {seed}: {method} on {len(examples)} examples")
                params: dict[str, Any] = {"max_new_tokens": cfg[0]}
                if method == "cot" or method == "refine":
                    if cot_preds is None:
                        cot_preds = timed("cot" if method == "cot" else "refine", run_cot,
                                          models.get(base_spec), examples, task, shots,
                                          max_new_tokens=cfg[0], batch_size=cfg[1])
                    params |= {"k": config.k, "prompt_id": prompt_id(task, shots),
                               "shots": [s.id for s in shots]}
                if method == "cot":
                    preds, model = cot_preds, base_spec
                elif method == "multitask":
                    # Greedy decoding: the same output for every seed, computed once.
                    if greedy_multitask is None:
                        greedy_multitask = timed("multitask", run_multitask,
                                                 models.get(config.model), examples,
                                                 max_new_tokens=cfg[0], batch_size=cfg[1])
                    preds, model = greedy_multitask, config.model
                    params |= {"decoding": "greedy (seed-independent)"}
                elif method == "wsc":
                    preds = timed("wsc", run_wsc, models.get(config.model), examples,
                                  n=config.n, w=config.w, temperature=config.temperature,
                                  seed=seed, max_new_tokens=cfg[0], batch_size=cfg[1])
                    model = config.model
                    params |= {"n": config.n, "w": config.w, "temperature": config.temperature}
                else:
                    start = [p.text for p in cot_preds or []]
                    preds = timed("refine", run_refine, models.get(refine_spec), examples,
                                  start, rounds=config.rounds, max_new_tokens=cfg[0],
                                  batch_size=cfg[1])
                    model = refine_spec
                    params |= {"rounds": config.rounds, "start_model": base_spec,
                               "mean_rounds": sum(p.meta["rounds"] for p in preds) / len(preds)}
                acc = accuracy([p.answer for p in preds], gold)
                pred_file = out / "predictions" / f"{method}_{task}_seed{seed}.jsonl"
                _save_predictions(pred_file, examples, preds)
                runs.append({"method": method, "task": task, "seed": seed, "model": model,
                             "n_examples": len(examples), "accuracy": acc,
                             "unparsed": sum(p.answer is None for p in preds),
                             "params": params,
                             "predictions": str(pred_file.relative_to(out))})
                log(f"[eval] {task} seed {seed}: {method} accuracy {acc:.4f}")

    summary: dict[str, dict[str, Any]] = {}
    for method in config.methods:
        for task in config.tasks:
            accs = [r["accuracy"] for r in runs if r["method"] == method and r["task"] == task]
            m, s = mean_std(accs)
            summary.setdefault(method, {})[task] = {"mean": m, "std": s, "seeds": len(accs),
                                                    "per_seed": accs}

    calibration: dict[str, Any] = {}
    if config.calibration:
        items = calibration_items()[:config.calibration_limit or None]
        log(f"[eval] calibration: fine-tuned {config.model} on {len(items)} records")
        calibration["finetuned"] = timed("calibration", calibrate, models.get(config.model),
                                         items, batch_size=cfg[1])
        log(f"[eval] calibration: ICL baseline {base_spec}")
        calibration["icl"] = timed("calibration", calibrate, models.get(base_spec), items,
                                   icl=True, batch_size=cfg[1])
        for key, cal in calibration.items():
            path = out / "predictions" / f"calibration_{key}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8") as fh:
                for rec in cal.pop("records"):
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            cal["predictions"] = str(path.relative_to(out))

    report = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "models": {role: {"spec": spec, **models.get(spec).info} for role, spec in
                   (("model", config.model), ("base_model", base_spec),
                    ("refine_model", refine_spec)) if spec in models.cache},
        "code": git_commit(),
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "transformers": _version("transformers"),
                        "device": str(next(iter(models.cache.values())).device)
                        if models.cache else None,
                        "threads": torch.get_num_threads()},
        "runs": runs,
        "accuracy": summary,
        "calibration": calibration,
        "timings_s": {k: round(v, 2) for k, v in timings.items()}
        | {"total": round(time.perf_counter() - started, 2)},
    }
    write_report(report, out, plots=config.plots)
    log(f"[eval] wrote {out / 'report.md'} in {report['timings_s']['total']:.1f}s")
    return report


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None
