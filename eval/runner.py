"""`run_eval(config)`: every method on every task and seed, calibration, then the report."""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.config import EvalConfig
from eval.metrics import accuracy
from eval.selective import add_selective, dev_selective, own_answer_probabilities
from eval.stats import (
    STATISTICS,
    accuracy_summary,
    majority_class,
    mcnemar_exact,
)
from eval.task_runs import (
    Models,
    critic_reading,
    refine_summary,
    save_predictions,
    task_runs,
)
from feedback_data.records.jsonl import write_records
from feedback_data.records.provenance import commit_info
from feedback_data.sources.fetch import task_provenance

ROOT = Path(__file__).resolve().parents[1]
KIND = "rhf eval"
# What an evaluation writes in its folder (the folder's .rhf-run mark names them).
OUTPUTS = ("report.json", "report.md", "accuracy.png", "reliability.png", "predictions")


class Timings:
    """Seconds spent per part of the evaluation; calling it runs ``fn`` and adds its time."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
        return result

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in self.seconds.items()} | {
            "total": round(time.perf_counter() - self.started, 2)}


@dataclass
class MethodResults:
    """Table 1's material, task by task: every run, accuracy per method and task, the
    majority class, multitask's selective prediction and the tasks' titles."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)
    majority: dict[str, Any] = field(default_factory=dict)
    selective_dev: dict[str, Any] = field(default_factory=dict)
    # the same answers ordered by the combined critic (when the critic holds a combiner)
    selective_dev_combined: dict[str, Any] = field(default_factory=dict)
    task_titles: dict[str, str] = field(default_factory=dict)


def run_eval(config: EvalConfig, log=print) -> dict[str, Any]:
    """Run the evaluation and write report.json, report.md and plots into ``config.out``.

    Returns the report (the content of report.json).
    """
    from eval.report import write_report

    dev, models = prepare(config)
    out = Path(config.out)
    timed = Timings()
    critic_cal, refine_tau = refine_setup(config, models, timed, log)
    results = MethodResults(summary={m: {} for m in config.methods})
    for task in config.tasks:
        evaluate_task(config, models, task, dev[task], results, timed, log,
                      tau=refine_tau["tau"] if refine_tau else None, critic_cal=critic_cal)
    calibration, baselines, items = (run_calibration(config, models, timed, log)
                                     if config.calibration else ({}, {}, []))
    step_critic = run_step_critic(config, models, items, timed, log) if items else {}
    report = build_report(config, models, results, timed, refine_tau=refine_tau,
                          calibration=calibration, baselines=baselines,
                          step_critic=step_critic)
    if models.dp.is_main:  # under a data-parallel launch only the main process writes
        write_report(report, out, plots=config.plots)
        log(f"[eval] wrote {out / 'report.md'} in {report['timings_s']['total']:.1f}s")
        publish(report, config, out, log)
    return report


def prepare(config: EvalConfig) -> tuple[dict[str, list], Models]:
    """The checked config's dev questions per task (shots checked before any model loads),
    the models (loaded on first use) and the report folder (made by the main process)."""
    import torch

    config.check()
    if config.threads:
        torch.set_num_threads(config.threads)
    dev = {task: dev_questions(task, config.limit) for task in config.tasks}  # fail early
    if "cot" in config.methods or "refine" in config.methods:  # too few shots: before models
        from feedback_data.tasks.prompts import default_shots
        from inference.shot_budget import check_shot_budget

        for task in config.tasks:
            for seed in config.seeds:  # even one shot too long: refused here too
                check_shot_budget(config.base_model, task, dev[task],
                                  default_shots(task, config.params.k, seed=seed))
    models = Models(config)
    if models.dp.is_main:
        Path(config.out).mkdir(parents=True, exist_ok=True)
    return dev, models


def refine_setup(config: EvalConfig, models: Models, timed: Timings, log
                 ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The critic's reading (when wsc_soft or refine's threshold rule reads P(no error)) and
    refine's τ under the threshold rule (given, or chosen on validation records)."""
    threshold = "refine" in config.methods and config.params.refine_rule == "threshold"
    critic_cal: dict[str, Any] | None = None
    if "wsc_soft" in config.methods or threshold:
        critic_cal = critic_reading(config, models)
    refine_tau: dict[str, Any] | None = None
    if threshold:
        refine_tau = ({"tau": config.params.tau, "chosen_on": "--tau"}
                      if config.params.tau is not None
                      else timed("refine tau", choose_refine_tau, config, models, log))
        log(f"[eval] refine: rewrite only when P(no error) < {refine_tau['tau']:.4g} "
            f"({refine_tau['chosen_on']})")
    return critic_cal, refine_tau


def evaluate_task(config: EvalConfig, models: Models, task: str, examples: list,
                  results: MethodResults, timed: Timings, log, tau: float | None,
                  critic_cal: dict[str, Any] | None) -> None:
    """Every method on one task's dev examples, per seed: predictions written, runs scored,
    then each method's accuracy statistics (with McNemar against cot) into ``results``."""
    from feedback_data.tasks.registry import get_task

    spec = get_task(task)
    results.task_titles[task] = spec.title
    gold = [ex.answer for ex in examples]
    results.majority[task] = majority_class(gold, applicable=spec.answer_type != "free_form")
    runs = task_runs(config, models, task, examples, timed, log, tau=tau,
                     critic_cal=critic_cal)
    if config.selective_dev and "multitask" in config.methods:
        log(f"[eval] {task}: P(no error) of multitask's own answers (selective prediction)")
        own = runs["multitask", config.seeds[0]][0]
        learned = timed("selective (dev)", own_answer_probabilities, models.get(config.critic),
                        examples, own, config.params.batch_size)
        results.selective_dev[task] = dev_selective(models.get(config.critic), examples, own,
                                                    probs=learned)
        combined = timed("selective (dev, combined)", combined_dev_selective, config, models,
                         task, examples, own, log, learned)
        if combined is not None:
            results.selective_dev_combined[task] = combined
    correct = score_runs(config, task, examples, runs, results, models.dp.is_main, log)
    for method in config.methods:
        per_seed = [correct[method, s] for s in config.seeds]
        dependent = not all(runs[method, s][2] for s in config.seeds[1:])
        stats = accuracy_summary(per_seed, dependent, config.bootstrap, config.bootstrap_seed)
        if "cot" in config.methods and method != "cot":
            stats["vs_cot"] = [{"seed": s, **mcnemar_exact(correct["cot", s],
                                                            correct[method, s])}
                               for s in config.seeds]
        results.summary[method][task] = stats


def score_runs(config: EvalConfig, task: str, examples: list, runs: dict, results:
               MethodResults, main: bool, log) -> dict[tuple[str, int], list[bool]]:
    """Each (method, seed) run's accuracy, recorded in ``results.runs`` with its predictions
    file (written by the main process); which answers were right, per run."""
    from feedback_data.text.answers import answers_match

    out = Path(config.out)
    gold = [ex.answer for ex in examples]
    correct: dict[tuple[str, int], list[bool]] = {}
    for method in config.methods:
        for seed in config.seeds:
            preds, params, reused = runs[method, seed]
            right = [answers_match(ex, p.answer, ex.answer)
                     for p, ex in zip(preds, examples, strict=True)]
            correct[method, seed] = right
            # a prediction matching a gold alias counts as the gold answer
            acc = accuracy([g if r else p.answer for p, g, r in zip(preds, gold, right,
                                                                     strict=True)], gold)
            pred_file = out / "predictions" / f"{method}_{task}_seed{seed}.jsonl"
            if main:
                save_predictions(pred_file, examples, preds)
            results.runs.append({
                "method": method, "task": task, "seed": seed,
                "model": config.model_for(method), "n_examples": len(examples),
                "accuracy": acc, "unparsed": sum(p.answer is None for p in preds),
                "prompts_lost_shots": sum(bool(p.meta.get("shots_dropped")) for p in preds),
                "reused_earlier_seed": reused,
                "params": {"max_new_tokens": config.params.max_new_tokens} | params,
                "predictions": str(pred_file.relative_to(out)),
                **_method_summary(method, examples, preds)})
            log(f"[eval] {task} seed {seed}: {method} accuracy {acc:.4f}")
    return correct


def run_calibration(config: EvalConfig, models: Models, timed: Timings, log
                    ) -> tuple[dict[str, Any], dict[str, Any], list]:
    """Table 2: error detection of the fine-tuned critic and the ICL baseline (and the
    asked-for baselines) on each detection set, or on the user's own records; their
    predictions written. Returns (calibration, baselines, the StrategyQA records the step
    critic reads)."""
    from eval.calibration import calibrate
    from feedback_data.records.schema import PAPER_TASKS

    out = Path(config.out)
    calibration: dict[str, Any] = {}
    baselines: dict[str, Any] = {}  # Table 2's baselines, on the same records
    items: list = []
    boot = {"bootstrap": config.bootstrap, "bootstrap_seed": config.bootstrap_seed,
            "batch_size": config.params.batch_size}
    for prefix, records, task in detection_groups(config):
        if prefix == "":
            items = records  # the step critic's records too
        shots_from = task if task in PAPER_TASKS else "strategyqa"  # the ICL shots' feedback
        log(f"[eval] detection ({task}): fine-tuned {config.critic} on {len(records)} "
            "records")
        calibration[f"{prefix}finetuned"] = timed(
            "calibration", calibrate, models.get(config.critic), records,
            task=shots_from, **boot)
        log(f"[eval] detection ({task}): ICL baseline {config.base_model} on "
            f"{len(records)} records")
        calibration[f"{prefix}icl"] = timed(
            "calibration", calibrate, models.get(config.base_model), records, icl=True,
            task=shots_from, content_free="icl_cf" in config.detection_baselines, **boot)
        add_selective(calibration[f"{prefix}finetuned"], records)
        add_selective(calibration[f"{prefix}icl"], records)
        signals = timed("critic combiner", run_combiner, config, models, records, task,
                        prefix, calibration, log)
        if config.detection_baselines:
            baselines.update(timed("detection baselines", run_detection_baselines, config,
                                   models, records, task, prefix, calibration, log))
        baselines.update(signals)
        calibration[f"{prefix}icl"].pop("_label_logps", None)
        calibration[f"{prefix}icl"].pop("_content_free_logps", None)
    for stem, group in (("calibration", calibration), ("detection_baseline", baselines)):
        for key, cal in group.items():
            path = out / "predictions" / f"{stem}_{key}.jsonl"
            records = cal.pop("records")
            if models.dp.is_main:
                write_records(path, records)
            cal["predictions"] = str(path.relative_to(out))
    _check_detection_held_out(calibration, models, config, log)
    return calibration, baselines, items


def detection_groups(config: EvalConfig) -> list[tuple[str, list, str]]:
    """(key prefix, records, task) of each detection set scored: the user's own records
    (``--calibration-feedback``), else the paper's detection sets asked for."""
    from feedback_data.records.jsonl import read_records
    from feedback_data.records.schema import FeedbackItem
    from feedback_data.sources.splits import detection_sets

    if config.calibration_feedback:  # the user's own records, e.g. a pull of a task
        own = read_records(config.calibration_feedback, FeedbackItem
                           )[:config.calibration_limit or None]
        if not own:
            raise ValueError(f"no calibration records in {config.calibration_feedback}")
        return [("", own, own[0].example.task)]
    sets = detection_sets()
    return [("" if task == "strategyqa" else "sports_",
             sets[task][:config.calibration_limit or None], task)
            for task in config.calibration_sets]


def run_step_critic(config: EvalConfig, models: Models, items: list, timed: Timings, log
                    ) -> dict[str, Any]:
    """The first wrong step, located from the error descriptions ``config.model`` writes."""
    from eval.step_metrics import description_step_critic

    log(f"[eval] first wrong step: {config.model} asked for error descriptions")
    score, _ = timed("step critic", description_step_critic, models.get(config.model),
                     items, max_new_tokens=config.params.max_new_tokens,
                     batch_size=config.params.batch_size)
    return {**asdict(score), "unscored": dict(score.unscored),
            "label_sources": dict(score.label_sources), "model": config.model,
            "prompt": "description", "markdown": score.markdown()}


def build_report(config: EvalConfig, models: Models, results: MethodResults,
                 timed: Timings, *, refine_tau: dict[str, Any] | None,
                 calibration: dict[str, Any], baselines: dict[str, Any],
                 step_critic: dict[str, Any]) -> dict[str, Any]:
    """report.json's content: the config, models, code, data sources and environment, the
    runs and Table 1's statistics, Table 2, the step critic, selective prediction, timings."""
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.record(),
        "models": {role: {"spec": spec, **models.get(spec).info} for role, spec in
                   (("model", config.model), ("base_model", config.base_model),
                    ("refine_model", config.refine_model)) if spec in models.cache},
        "code": commit_info(),
        # where each task's data came from (a report from another faithful copy says so)
        "data_sources": task_provenance(config.tasks),
        "environment": environment(models),
        "statistics": STATISTICS | {"bootstrap": {"b": config.bootstrap,
                                                  "seed": config.bootstrap_seed,
                                                  "method": "percentile", "level": 0.95}},
        "runs": results.runs,
        "accuracy": results.summary,
        "majority": results.majority,
        "task_titles": results.task_titles,
        **({"refine_threshold": refine_tau} if refine_tau else {}),
        "calibration": calibration,
        **({"detection_baselines": baselines} if config.detection_baselines else {}),
        "step_critic": step_critic,
        "selective_dev": results.selective_dev,
        **({"selective_dev_combined": results.selective_dev_combined}
           if results.selective_dev_combined else {}),
        "timings_s": timed.rounded(),
    }


def environment(models: Models) -> dict[str, Any]:
    """Python, torch and transformers versions, where the models ran, threads, processes."""
    import torch

    first = next(iter(models.cache.values())) if models.cache else None
    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": _version("transformers"),
            "device": str(first.device) if first is not None else None,
            "threads": torch.get_num_threads(),
            "dtype": getattr(first, "dtype", None) if first is not None else None,
            "num_processes": models.dp.world}


def publish(report: dict[str, Any], config: EvalConfig, out: Path, log) -> None:
    """The tables to the trackers asked for, the headline numbers to the model cards."""
    if config.report_to or config.update_card:
        from eval.publish import log_to_trackers, update_cards

        if config.report_to:
            log_to_trackers(report, config.report_to, config.model, out, log)
        if config.update_card:
            update_cards(report, config, log)


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


def _method_summary(method: str, examples: list, preds: list) -> dict[str, Any]:
    """What a critic-using method did: wsc / wsc_soft's vote (share of weight-1 samples,
    vote margin), refine's rounds and per-round flips."""
    from inference.methods import vote_summary

    if method in ("wsc", "wsc_soft"):
        return {"vote": vote_summary(preds)}
    if method == "refine":
        return {"refine": refine_summary(examples, preds)}
    return {}


def validation_records(info: dict[str, Any]) -> list:
    """The critic's validation records: the paper's training records of the tasks its run
    trained on whose question falls under its ``data.eval_fraction`` (the split training
    validated on), Sports detection records left out. Empty when its run says nothing."""
    from feedback_data.records.schema import PAPER_TASKS
    from feedback_data.sources.paper_import import load_paper_feedback
    from feedback_data.sources.splits import is_held_out, is_sports_detection

    data = (info.get("config") or {}).get("data") or {}
    fraction = data.get("eval_fraction")
    if not fraction:
        return []
    tasks = [t for t in (data.get("tasks") or PAPER_TASKS) if t in PAPER_TASKS]
    return [i for t in tasks for i in load_paper_feedback(t, "train")
            if is_held_out(i.example.id, fraction) and not is_sports_detection(i)]


def choose_refine_tau(config: EvalConfig, models: Models, log) -> dict[str, Any]:
    """Refine's τ, chosen on the critic's validation records (never a dev or detection
    record): :func:`eval.metrics.choose_threshold` over its calibrated P(no error), read as
    its ``critic.json`` says. For the combined critic, the τ ``rhf eval fit-critic`` chose
    the same way on the combined critic's cross-fitted validation P."""

    from eval.metrics import choose_threshold
    from feedback_data.text.critic_labels import no_error_probabilities, reading_of
    from feedback_data.text.instructions import error_types_prompt
    from inference.combined_critic import CombinedCritic

    spec = config.critic_model or config.model
    combined = models.critic()
    if isinstance(combined, CombinedCritic):
        if not combined.combiner.get("refine_tau"):
            raise ValueError(f"--refine-rule threshold: the combined critic of {spec} holds no "
                             "refine τ (fitted by an older rhf, or validation records of one "
                             "class): fit it again with `rhf eval fit-critic`, or pass --tau")
        log("[eval] refine: tau of the combined critic, stored by rhf eval fit-critic")
        return {**combined.combiner["refine_tau"], "combined_critic": combined.describe(),
                "critic_reading": reading_of(combined).as_dict()}
    critic = models.get(spec)
    records = validation_records(critic.info)
    if not records:
        raise ValueError(f"--refine-rule threshold: {spec} records no validation "
                         "split (data.eval_fraction) to choose tau on; pass --tau")
    order = getattr(critic, "chain_order", None)
    probs = no_error_probabilities(
        critic, [error_types_prompt(i.example.question, i.chain.text, order) for i in records],
        batch_size=config.params.batch_size)
    gold = [not i.feedback.error_types for i in records]
    log(f"[eval] refine: choosing tau on {len(records)} validation records of {spec}")
    return {**choose_threshold(probs, gold), "chosen_on": f"{len(records)} validation records "
            "of the critic's run (best balanced detection accuracy)", "n": len(records),
            "no_error_records": sum(gold), "critic_reading": reading_of(critic).as_dict()}


def training_no_error_share(info: dict[str, Any]) -> tuple[float, str]:
    """The 'no error' share of the critic's training feedback (the prior baseline's
    constant), pooled over the tasks its run trained on (every built-in task when its run
    does not say), the Sports detection records left out; and a line saying so."""
    from eval.detection_baselines import no_error_share
    from feedback_data.records.schema import PAPER_TASKS
    from feedback_data.sources.paper_import import load_paper_feedback
    from feedback_data.sources.splits import is_sports_detection

    data = (info.get("config") or {}).get("data") or {}
    tasks = [t for t in (data.get("tasks") or PAPER_TASKS) if t in PAPER_TASKS] or list(PAPER_TASKS)
    items = [i for t in tasks for i in load_paper_feedback(t, "train")
             if not is_sports_detection(i)]
    share = no_error_share([not i.feedback.error_types for i in items])
    return share, (f"share of 'no error' among the {len(items)} paper training records of "
                   f"{', '.join(tasks)} (detection records left out)")


def _agreement_baseline(config: EvalConfig, critic_model: Any, records: list, task: str,
                        log) -> tuple[list[float], dict[str, Any]]:
    """Self-consistency agreement: the share of n answers sampled from the answering model
    (answer instruction) that equal the chain's answer."""
    from feedback_data.text.answers import answers_match, parse_answer_chain
    from feedback_data.text.instructions import answer_prompt
    from inference.combined_critic import agreement_score

    log(f"[eval] detection ({task}): self-consistency agreement, {config.params.n} samples "
        f"per question from {config.model}")
    questions = list(dict.fromkeys(i.example.question for i in records))
    by_q = {i.example.question: i.example for i in records}
    outs = critic_model.generate(
        [answer_prompt(q) for q in questions], do_sample=True,
        temperature=config.params.temperature, num_return_sequences=config.params.n,
        max_new_tokens=config.params.max_new_tokens, seed=config.seeds[0],
        batch_size=config.params.batch_size, desc="agreement samples")
    sampled = {q: [parse_answer_chain(t, by_q[q])[0] for t in o]
               for q, o in zip(questions, outs, strict=True)}
    probs = [agreement_score(i.chain.answer, sampled[i.example.question],
                             same=lambda a, b, ex=i.example: answers_match(ex, a, b))
             for i in records]
    return probs, {"model": config.model, "samples": config.params.n,
                   "temperature": config.params.temperature, "seed": config.seeds[0],
                   "how": "share of n answers sampled from the answering model (answer "
                          "instruction) that equal the chain's answer"}


def _icl_cf_baseline(config: EvalConfig, icl: dict[str, Any]
                     ) -> tuple[list[float], dict[str, Any]]:
    """The ICL baseline's label probabilities, content-free calibrated."""
    from eval.detection_baselines import content_free_calibrate, content_free_probabilities

    p_cf = content_free_probabilities(icl["_content_free_logps"])
    return [content_free_calibrate(row, p_cf) for row in icl["_label_logps"]], {
        "model": config.base_model, "content_free_inputs": ["N/A", "", "[MASK]"],
        "p_cf_no_error": p_cf[0],
        "how": "the ICL baseline's label probabilities divided by those of "
               "content-free inputs, renormalised (Zhao et al., 2021)"}


def _sports_rules_baseline(records: list) -> tuple[list[float], dict[str, Any]]:
    """The vocab.json rule checker (Sports only): the ceiling for a critic that knows the
    base's facts."""
    from eval.detection_baselines import sports_rule_check
    from feedback_data.sources.bigbench import load_sports_vocab

    vocab = load_sports_vocab()
    checks = [sports_rule_check(i.example.question, i.chain.text, i.chain.answer, vocab)
              for i in records]
    return [c.score for c in checks], {
        "model": None, "undecided_sport": sum(c.named_sport_right is None for c in checks),
        "how": "vocab.json rule checker: the chain names the player's sport right, "
               "and says yes exactly when the action belongs to that sport; the "
               "ceiling for a critic that knows the base's facts"}


def critic_scores(calibration: dict[str, Any], prefix: str) -> list[float]:
    """The critic's P(no error) on a detection set: the combined critic when its checkpoint
    holds a combiner (``{prefix}combined``), else the fine-tuned critic's."""
    key = f"{prefix}combined" if f"{prefix}combined" in calibration else f"{prefix}finetuned"
    return [r["p_no_error"] for r in calibration[key]["records"]]


def run_combiner(config: EvalConfig, models: Models, records: list, task: str, prefix: str,
                 calibration: dict[str, Any], log) -> dict[str, Any]:
    """With a combiner in the critic's ``critic.json`` (``rhf eval fit-critic``): the
    combined critic as ``{prefix}combined`` in ``calibration``, the learned critic's row
    compared with it, and each training-free signal alone (verification, the verifier's
    answer agreement) returned as Table 2 rows. Nothing without a combiner for ``task``."""
    from eval.calibration import detection_scores
    from eval.selective import add_selective
    from eval.stats import paired_bootstrap_auroc_diff
    from inference.combined_critic import (
        CombinedCritic,
        as_judged,
        combined_probabilities,
        feature_row,
    )

    critic = models.critic()
    if not isinstance(critic, CombinedCritic) or task not in critic.tasks():
        return {}
    combiner, settings = critic.combiner, critic.settings
    log(f"[eval] detection ({task}): the combined critic, verifier {settings.model}")
    learned_entry = calibration[f"{prefix}finetuned"]
    learned = [r["p_no_error"] for r in learned_entry["records"]]
    sig = critic.signals_of(as_judged(records))
    probs = combined_probabilities(combiner, task, [feature_row(p, *s) for p, s
                                                    in zip(learned, sig, strict=True)])
    gold = [not i.feedback.error_types for i in records]
    ids = [i.feedback.id for i in records]
    boot = {"bootstrap": config.bootstrap, "bootstrap_seed": config.bootstrap_seed}
    model = combiner["tasks"][task]
    entry = {"model": f"{config.critic} + verifier {settings.model}", "mode": "combined",
             "n": len(records), "task": task, "features": combiner["features"],
             "weights": model["weights"], "validation_auroc": model["validation_auroc"],
             **detection_scores(probs, gold, ids, **boot)}
    calibration[f"{prefix}combined"] = add_selective(entry, records)
    learned_entry["critic_minus_baseline"] = paired_bootstrap_auroc_diff(
        probs, learned, gold, config.bootstrap, config.bootstrap_seed)
    out: dict[str, Any] = {}
    names = ["verification", "verifier_agreement"] + (
        ["subquestion_verification"] if critic.uses_subquestions else [])
    for k, name in enumerate(names):
        alone = [s[k] for s in sig]
        row = {"baseline": name, "task": task, "n": len(records), "model": settings.model,
               **detection_scores(alone, gold, ids, **boot)}
        row["critic_minus_baseline"] = paired_bootstrap_auroc_diff(
            probs, alone, gold, config.bootstrap, config.bootstrap_seed)
        out[prefix + name] = add_selective(row, records)
    return out


def combined_dev_selective(config: EvalConfig, models: Models, task: str, examples: list,
                           predictions: list, log, learned: list[float] | None = None
                           ) -> dict[str, Any] | None:
    """Selective prediction of multitask's own greedy dev answers ordered by the combined
    critic (its learned P, ``learned`` when the caller scored it, verification against the
    verifier's chains, the verifier's answer agreement); None without a combiner for
    ``task``."""
    from eval.selective import selective_summary
    from feedback_data.text.answers import answers_match
    from inference.combined_critic import CombinedCritic

    critic = models.critic()
    if not isinstance(critic, CombinedCritic) or task not in critic.tasks():
        return None
    log(f"[eval] {task}: multitask's own answers ordered by the combined critic "
        f"(verifier {critic.settings.model})")
    judged = [(ex, p.text, p.answer) for ex, p in zip(examples, predictions, strict=True)]
    probs = critic.combine(judged, learned) if learned is not None else \
        critic.probabilities(judged)
    right = [p.answer is not None and answers_match(ex, p.answer, ex.answer)
             for ex, p in zip(examples, predictions, strict=True)]
    return {"model": f"{config.critic} + verifier {critic.settings.model}",
            "method": "multitask (greedy)", **selective_summary(probs, right)}


def run_detection_baselines(config: EvalConfig, models: Models, records: list, task: str,
                            prefix: str, calibration: dict[str, Any], log
                            ) -> dict[str, Any]:
    """Table 2's baselines (:mod:`eval.detection_baselines`) on ``records``, each scored like
    the critic, with a paired bootstrap of the critic's AUROC minus the baseline's
    (``critic_minus_baseline``). Keys: ``prefix`` + baseline name (``sports_rules`` as it
    is)."""
    from eval.calibration import detection_scores
    from eval.selective import add_selective
    from eval.stats import paired_bootstrap_auroc_diff

    gold = [not i.feedback.error_types for i in records]
    ids = [i.feedback.id for i in records]
    boot = {"bootstrap": config.bootstrap, "bootstrap_seed": config.bootstrap_seed}
    scores: dict[str, tuple[list[float], dict[str, Any]]] = {}
    critic_model = models.get(config.model)
    for name in config.detection_baselines:
        if name == "prior":
            share, how = training_no_error_share(critic_model.info)
            scores[name] = [share] * len(records), {"model": None, "how": how,
                                                     "constant": share}
        elif name == "agreement":
            scores[name] = _agreement_baseline(config, critic_model, records, task, log)
        elif name == "icl_cf":
            scores[name] = _icl_cf_baseline(config, calibration[f"{prefix}icl"])
        elif name == "sports_rules" and task == "sports_understanding":
            scores[name] = _sports_rules_baseline(records)
    critic = critic_scores(calibration, prefix)
    out: dict[str, Any] = {}
    for name, (probs, meta) in scores.items():
        entry = {"baseline": name, "task": task, "n": len(records), **meta,
                 **detection_scores(probs, gold, ids, **boot)}
        entry["critic_minus_baseline"] = paired_bootstrap_auroc_diff(
            critic, probs, gold, config.bootstrap, config.bootstrap_seed)
        key = name if name.startswith(prefix or "\0") else prefix + name  # sports_rules
        out[key] = add_selective(entry, records)
    icl = calibration[f"{prefix}icl"]
    icl["critic_minus_baseline"] = paired_bootstrap_auroc_diff(
        critic, [r["p_no_error"] for r in icl["records"]], gold, config.bootstrap,
        config.bootstrap_seed)
    return out


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
