"""`run_eval(config)`: every method on every task and seed, calibration, then the report."""

from __future__ import annotations

import platform
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.config import EvalConfig
from eval.metrics import accuracy
from eval.selective import add_selective, dev_selective
from eval.stats import (
    STATISTICS,
    accuracy_summary,
    majority_class,
    mcnemar_exact,
)
from eval.task_runs import Models, save_predictions, task_runs
from feedback_data.jsonl import write_records
from feedback_data.provenance import commit_info

ROOT = Path(__file__).resolve().parents[1]
KIND = "rhf eval"
# What an evaluation writes in its folder (the folder's .rhf-run mark names them).
OUTPUTS = ("report.json", "report.md", "accuracy.png", "reliability.png", "predictions")


def run_eval(config: EvalConfig, log=print) -> dict[str, Any]:
    """Run the evaluation and write report.json, report.md and plots into ``config.out``.

    Returns the report (the content of report.json).
    """
    import torch

    from eval.calibration import calibrate
    from eval.report import write_report
    from feedback_data.answers import answers_match
    from feedback_data.jsonl import read_records
    from feedback_data.schema import TASKS, FeedbackItem
    from feedback_data.splits import detection_sets
    from feedback_data.tasks.registry import get_task

    config.check()
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    dev = {task: dev_questions(task, config.limit) for task in config.tasks}  # fail early
    models = Models(config)
    main = models.dp.is_main  # under a data-parallel launch only the main process writes
    if main:
        out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    runs: list[dict[str, Any]] = []
    summary: dict[str, dict[str, Any]] = {m: {} for m in config.methods}
    majority: dict[str, Any] = {}
    selective_dev: dict[str, Any] = {}
    task_titles: dict[str, str] = {}

    def timed(name: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
        return result

    for task in config.tasks:
        spec = get_task(task)
        task_titles[task] = spec.title
        examples = dev[task]
        gold = [ex.answer for ex in examples]
        majority[task] = majority_class(gold, applicable=spec.answer_type != "free_form")
        results = task_runs(config, models, task, examples, timed, log)
        if config.selective_dev and "multitask" in config.methods:
            log(f"[eval] {task}: P(no error) of multitask's own answers (selective prediction)")
            selective_dev[task] = timed("selective (dev)", dev_selective,
                                        models.get(config.critic), examples,
                                        results["multitask", config.seeds[0]][0],
                                        batch_size=config.batch_size)
        correct: dict[tuple[str, int], list[bool]] = {}
        for method in config.methods:
            for seed in config.seeds:
                preds, params, reused = results[method, seed]
                right = [answers_match(ex, p.answer, ex.answer)
                         for p, ex in zip(preds, examples, strict=True)]
                correct[method, seed] = right
                # a prediction matching a gold alias counts as the gold answer
                acc = accuracy([g if r else p.answer for p, g, r in zip(preds, gold, right,
                                                                         strict=True)], gold)
                pred_file = out / "predictions" / f"{method}_{task}_seed{seed}.jsonl"
                if main:
                    save_predictions(pred_file, examples, preds)
                runs.append({"method": method, "task": task, "seed": seed,
                             "model": config.model_for(method),
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
    items: list = []
    if config.calibration:
        if config.calibration_feedback:  # the user's own records, e.g. a pull of a task
            own = read_records(config.calibration_feedback, FeedbackItem
                               )[:config.calibration_limit or None]
            if not own:
                raise ValueError(f"no calibration records in {config.calibration_feedback}")
            groups = [("", own, own[0].example.task)]
        else:
            sets = detection_sets()
            groups = [("" if task == "strategyqa" else "sports_",
                       sets[task][:config.calibration_limit or None], task)
                      for task in config.calibration_sets]
        boot = {"bootstrap": config.bootstrap, "bootstrap_seed": config.bootstrap_seed,
                "batch_size": config.batch_size}
        for prefix, records, task in groups:
            if prefix == "":
                items = records  # the step critic's records too
            shots_from = task if task in TASKS else "strategyqa"  # the ICL shots' feedback
            log(f"[eval] detection ({task}): fine-tuned {config.critic} on {len(records)} "
                "records")
            calibration[f"{prefix}finetuned"] = timed(
                "calibration", calibrate, models.get(config.critic), records,
                task=shots_from, **boot)
            log(f"[eval] detection ({task}): ICL baseline {config.base_model} on "
                f"{len(records)} records")
            calibration[f"{prefix}icl"] = timed(
                "calibration", calibrate, models.get(config.base_model), records, icl=True,
                task=shots_from, **boot)
            add_selective(calibration[f"{prefix}finetuned"], records)
            add_selective(calibration[f"{prefix}icl"], records)
        for key, cal in calibration.items():
            path = out / "predictions" / f"calibration_{key}.jsonl"
            records = cal.pop("records")
            if main:
                write_records(path, records)
            cal["predictions"] = str(path.relative_to(out))
        _check_detection_held_out(calibration, models, config, log)

    step_critic: dict[str, Any] = {}
    if items:
        from eval.step_metrics import description_step_critic

        log(f"[eval] first wrong step: {config.model} asked for error descriptions")
        score, _ = timed("step critic", description_step_critic, models.get(config.model),
                         items, max_new_tokens=config.max_new_tokens,
                         batch_size=config.batch_size)
        step_critic = {**asdict(score), "unscored": dict(score.unscored),
                       "label_sources": dict(score.label_sources),
                       "model": config.model, "prompt": "description",
                       "markdown": score.markdown()}

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
                        "threads": torch.get_num_threads(),
                        "dtype": getattr(next(iter(models.cache.values())), "dtype", None)
                        if models.cache else None,
                        "num_processes": models.dp.world},
        "statistics": STATISTICS | {"bootstrap": {"b": config.bootstrap,
                                                  "seed": config.bootstrap_seed,
                                                  "method": "percentile", "level": 0.95}},
        "runs": runs,
        "accuracy": summary,
        "majority": majority,
        "task_titles": task_titles,
        "calibration": calibration,
        "step_critic": step_critic,
        "selective_dev": selective_dev,
        "timings_s": {k: round(v, 2) for k, v in timings.items()}
        | {"total": round(time.perf_counter() - started, 2)},
    }
    if main:
        write_report(report, out, plots=config.plots)
        log(f"[eval] wrote {out / 'report.md'} in {report['timings_s']['total']:.1f}s")
        if config.report_to or config.update_card:
            from eval.publish import log_to_trackers, update_cards

            if config.report_to:
                log_to_trackers(report, config.report_to, config.model, out, log)
            if config.update_card:
                update_cards(report, config, log)
    return report


def _check_detection_held_out(calibration: dict[str, Any], models: Models,
                              config: EvalConfig, log) -> None:
    """Mark the Sports detection rows of a critic trained on the Sports detection set (its
    run's ``data.holdout_detection`` off): its numbers are then not held-out numbers."""
    cal = calibration.get("sports_finetuned")
    if cal is None:
        return
    data = (models.get(config.critic).info.get("config") or {}).get("data") or {}
    trained_on = "sports_understanding" in (data.get("tasks") or []) and \
        data.get("holdout_detection") is False
    cal["trained_on_detection_set"] = trained_on
    if trained_on:
        log("[eval] warning: the fine-tuned critic was trained on the Sports detection set "
            "(data.holdout_detection false); its Sports detection row is not held out")


def dev_questions(task: str, limit: int | None) -> list:
    """The (first ``limit``) dev questions of ``task``, each with its gold answer."""
    from feedback_data.tasks.data import dev_set

    examples = dev_set(task)[:limit] if limit else dev_set(task)
    if not examples:
        raise ValueError(f"task {task}: the dev set is empty")
    unlabelled = sum(ex.answer is None for ex in examples)
    if unlabelled:
        raise ValueError(f"task {task}: {unlabelled} of {len(examples)} dev questions have no "
                         "gold answer; rhf eval scores labelled questions only (rhf infer "
                         "answers unlabelled ones)")
    return examples


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None
