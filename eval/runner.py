"""`run_eval(config)`: every method on every task and seed, calibration, then the report."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.metrics import accuracy
from eval.stats import (
    DEFAULT_B,
    STATISTICS,
    accuracy_summary,
    majority_class,
    mcnemar_exact,
)
from feedback_data.provenance import commit_info
from feedback_data.schema import TASKS
from inference.methods import (
    DEFAULT_N,
    DEFAULT_ROUNDS,
    DEFAULT_TEMPERATURE,
    DEFAULT_W,
    METHODS,
    REFINE_KEEP,
    Prediction,
)

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class EvalConfig:
    """What `rhf eval` runs. Models take a hub id, a model folder or a training RUN_DIR.

    No model stands in for another: ``base_model`` is required when cot, refine or the ICL
    calibration baseline runs, ``refine_model`` when refine runs.
    """

    model: str  # multitask-trained checkpoint: multitask, wsc, wsc_soft, fine-tuned calibration
    out: Path  # report folder
    base_model: str | None = None  # cot, refine's starting chains, ICL calibration baseline
    refine_model: str | None = None  # refine-trained checkpoint
    methods: tuple[str, ...] = METHODS
    tasks: tuple[str, ...] = TASKS
    seeds: tuple[int, ...] = (0,)
    limit: int | None = None  # first N dev examples per task
    k: int = 4  # shots in the CoT prompt
    n: int = DEFAULT_N  # wsc samples per question
    w: float = DEFAULT_W  # wsc weight of a sample labelled as erroneous
    temperature: float = DEFAULT_TEMPERATURE  # wsc sampling temperature
    rounds: int = DEFAULT_ROUNDS  # refine: maximum rounds
    refine_keep: str = "given"  # refine, on 'no error': the chain given (paper) or written
    batch_size: int = 64  # sequences per generate call
    max_new_tokens: int = 64  # cap on a generated chain
    calibration: bool = True  # run error-detection calibration
    calibration_limit: int | None = None  # first N calibration records (default: all 173)
    bootstrap: int = DEFAULT_B  # bootstrap resamples for the CIs
    bootstrap_seed: int = 0  # seed of the bootstrap's numpy Generator
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
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"--seeds repeats a seed: {self.seeds}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be >= 1, got {self.limit}")
        if self.n < 1 or self.rounds < 1 or self.k < 0 or not 0 <= self.w <= 1:
            raise ValueError("need n >= 1, rounds >= 1, k >= 0 and 0 <= w <= 1")
        if self.temperature <= 0:
            raise ValueError(f"--temperature must be > 0, got {self.temperature}")
        if self.refine_keep not in REFINE_KEEP:
            raise ValueError(f"--refine-keep must be one of {', '.join(REFINE_KEEP)}, "
                             f"got {self.refine_keep!r}")
        if self.bootstrap < 1:
            raise ValueError(f"--bootstrap must be >= 1, got {self.bootstrap}")
        need_base = [m for m in ("cot", "refine") if m in self.methods]
        need_base += ["the ICL calibration baseline"] if self.calibration else []
        if need_base and not self.base_model:
            raise ValueError(f"--base-model is required for {', '.join(need_base)} (no model "
                             "stands in for another; pass --model's value to use that one)")
        if "refine" in self.methods and not self.refine_model:
            raise ValueError("--refine-model is required for refine (no model stands in for "
                             "another; pass --model's value to use that one)")


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


def _task_runs(config: EvalConfig, models: _Models, task: str, examples: list, timed,
               log) -> dict[tuple[str, int], tuple[list[Prediction], dict[str, Any], bool]]:
    """Every method's predictions on ``examples`` per seed: {(method, seed): (predictions,
    params, reused)}, ``reused`` when an earlier seed's identical computation was reused
    (greedy decoding of the same prompt: multitask always, cot and refine when the shots
    do not change with the seed, e.g. k = 0)."""
    from feedback_data.prompts import default_shots, prompt_id
    from inference.dispatch import MethodParams, run_method, sample_for_vote

    methods = config.methods
    out: dict[tuple[str, int], tuple[list[Prediction], dict[str, Any], bool]] = {}
    by_prompt: dict[str, dict[str, list[Prediction]]] = {}
    multitask: list[Prediction] | None = None
    for seed in config.seeds:
        params = MethodParams(k=config.k, n=config.n, w=config.w,
                              temperature=config.temperature, rounds=config.rounds,
                              refine_keep=config.refine_keep, seed=seed,
                              batch_size=config.batch_size,
                              max_new_tokens=config.max_new_tokens)
        if "cot" in methods or "refine" in methods:
            shots = default_shots(task, config.k, seed=seed)
            pid = prompt_id(task, shots)
            cot_params = {"k": config.k, "prompt_id": pid, "shots": [s.id for s in shots]}
            reused = pid in by_prompt
            cached = by_prompt.setdefault(pid, {})
            if "cot" not in cached:
                log(f"[eval] {task} seed {seed}: cot on {len(examples)} examples")
                cached["cot"] = timed("cot", run_method, "cot", models.get(config.base_model),
                                      examples, params)
            if "cot" in methods:
                out["cot", seed] = cached["cot"], dict(cot_params), reused
            if "refine" in methods:
                if "refine" not in cached:
                    log(f"[eval] {task} seed {seed}: refine on {len(examples)} examples")
                    cached["refine"] = timed(
                        "refine", run_method, "refine", models.get(config.refine_model),
                        examples, params, start_chains=[p.text for p in cached["cot"]])
                preds = cached["refine"]
                out["refine", seed] = preds, cot_params | {
                    "rounds": config.rounds, "keep": config.refine_keep,
                    "start_model": config.base_model,
                    "mean_rounds": sum(p.meta["rounds"] for p in preds) / len(preds)}, reused
        if "multitask" in methods:
            reused = multitask is not None
            if multitask is None:
                log(f"[eval] {task}: multitask (greedy) on {len(examples)} examples")
                multitask = timed("multitask", run_method, "multitask",
                                  models.get(config.model), examples, params)
            out["multitask", seed] = multitask, {"decoding": "greedy (seed-independent)"}, reused
        wanted = [m for m in ("wsc", "wsc_soft") if m in methods]
        if wanted:
            log(f"[eval] {task} seed {seed}: {' and '.join(wanted)} on {len(examples)} examples")
            # One sampling pass and one label-scoring pass serve both votes.
            samples = timed("wsc", sample_for_vote, models.get(config.model), examples, params)
            for m in wanted:
                preds = timed("wsc", run_method, m, None, examples, params, samples=samples)
                out[m, seed] = preds, {"n": config.n, "w": config.w,
                                       "temperature": config.temperature,
                                       "weight": "w + (1 - w) P(no error)" if m == "wsc_soft"
                                       else "1 if argmax label is 'no error' else w"}, False
    return out


def run_eval(config: EvalConfig, log=print) -> dict[str, Any]:
    """Run the evaluation and write report.json, report.md and plots into ``config.out``.

    Returns the report (the content of report.json).
    """
    import torch

    from eval.calibration import calibrate
    from eval.report import write_report
    from feedback_data.splits import calibration_items, dev_examples

    config.check()
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    models = _Models(config)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    runs: list[dict[str, Any]] = []
    summary: dict[str, dict[str, Any]] = {m: {} for m in config.methods}
    majority: dict[str, Any] = {}
    model_of = {"cot": config.base_model, "refine": config.refine_model}

    def timed(name: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
        return result

    for task in config.tasks:
        examples = dev_examples(task)[:config.limit] if config.limit else dev_examples(task)
        gold = [ex.answer for ex in examples]
        majority[task] = majority_class(gold)
        results = _task_runs(config, models, task, examples, timed, log)
        correct: dict[tuple[str, int], list[bool]] = {}
        for method in config.methods:
            for seed in config.seeds:
                preds, params, reused = results[method, seed]
                right = [p.answer == g for p, g in zip(preds, gold, strict=True)]
                correct[method, seed] = right
                acc = accuracy([p.answer for p in preds], gold)
                pred_file = out / "predictions" / f"{method}_{task}_seed{seed}.jsonl"
                _save_predictions(pred_file, examples, preds)
                runs.append({"method": method, "task": task, "seed": seed,
                             "model": model_of.get(method, config.model),
                             "n_examples": len(examples), "accuracy": acc,
                             "unparsed": sum(p.answer is None for p in preds),
                             "reused_earlier_seed": reused,
                             "params": {"max_new_tokens": config.max_new_tokens} | params,
                             "predictions": str(pred_file.relative_to(out))})
                log(f"[eval] {task} seed {seed}: {method} accuracy {acc:.4f}")
        for method in config.methods:
            per_seed = [correct[method, s] for s in config.seeds]
            dependent = not all(results[method, s][2] for s in config.seeds[1:])
            stats = accuracy_summary(per_seed, dependent, config.bootstrap,
                                     config.bootstrap_seed)
            if "cot" in config.methods and method != "cot":
                stats["vs_cot"] = [{"seed": s, **mcnemar_exact(correct["cot", s],
                                                                correct[method, s])}
                                   for s in config.seeds]
            summary[method][task] = stats

    calibration: dict[str, Any] = {}
    if config.calibration:
        items = calibration_items()[:config.calibration_limit or None]
        boot = {"bootstrap": config.bootstrap, "bootstrap_seed": config.bootstrap_seed,
                "batch_size": config.batch_size}
        log(f"[eval] calibration: fine-tuned {config.model} on {len(items)} records")
        calibration["finetuned"] = timed("calibration", calibrate, models.get(config.model),
                                         items, **boot)
        log(f"[eval] calibration: ICL baseline {config.base_model} on {len(items)} records")
        calibration["icl"] = timed("calibration", calibrate, models.get(config.base_model),
                                   items, icl=True, **boot)
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
                   (("model", config.model), ("base_model", config.base_model),
                    ("refine_model", config.refine_model)) if spec in models.cache},
        "code": commit_info(),
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "transformers": _version("transformers"),
                        "device": str(next(iter(models.cache.values())).device)
                        if models.cache else None,
                        "threads": torch.get_num_threads()},
        "statistics": STATISTICS | {"bootstrap": {"b": config.bootstrap,
                                                  "seed": config.bootstrap_seed,
                                                  "method": "percentile", "level": 0.95}},
        "runs": runs,
        "accuracy": summary,
        "majority": majority,
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
