"""report.json and report.md: the paper's two tables (accuracy, error detection) and provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval.names import (
    BASELINE_NAMES,
    CALIBRATION_NAMES,
    DETECTION_SET_NAMES,
    TASK_NAMES,
    base_pretrained_on_format,
    method_title,
    table1_title,
)
from feedback_data.files.io import write_json, write_text

# Flan-T5 dev accuracy (%) and error detection (%) reported for the paper in the AWS Machine
# Learning blog "Improve multi-hop reasoning in LLMs by learning from rich human feedback"
# (April 2023). For reference only: other dev split, other model size.
PAPER_ACCURACY = {
    "cot": {"strategyqa": "67.39 ± 2.6", "sports_understanding": "58.5"},
    "multitask": {"strategyqa": "66.22 ± 0.7", "sports_understanding": "54.3 ± 2.1"},
    "wsc": {"strategyqa": "61.13 ± 1.5", "sports_understanding": "51.3 ± 1.9"},
    "refine": {"strategyqa": "61.85 ± 3.3", "sports_understanding": "57.0 ± 2.5"},
}
PAPER_DETECTION = {"icl": "30.17", "finetuned": "73.98"}


def pct(mean: float, std: float | None = None) -> str:
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def ci_text(ci: list[float | None] | None, scale: float = 100.0, digits: int = 1) -> str:
    """'[lo, hi]' in percent (or raw with scale 1), 'n/a' when undefined."""
    if not ci or ci[0] is None or ci[1] is None:
        return "[n/a]"
    return f"[{scale * ci[0]:.{digits}f}, {scale * ci[1]:.{digits}f}]"


def p_text(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def accuracy_cell(s: dict[str, Any]) -> str:
    """'58.00 ± 1.00 [54.1, 61.9]' (several results) or '65.00 [60.9, 68.9]' (one)."""
    several = s.get("seed_dependent") and s["seeds"] > 1
    return pct(s["mean"], s["std"] if several else None) + " " + ci_text(s.get("ci"))


def paired_cell(s: dict[str, Any]) -> str:
    """'+12 / −8, p 0.503' per seed ('s0: ...; s1: ...' with several seeds)."""
    tests = s.get("vs_cot") or []
    parts = [f"+{t['won']} / −{t['lost']}, p {p_text(t['p_value'])}" for t in tests]
    if len(parts) == 1:
        return parts[0]
    return "; ".join(f"s{t['seed']}: {x}" for t, x in zip(tests, parts, strict=True))


def majority_cell(maj: dict[str, Any]) -> str:
    """'54.45 [50.3, 58.6] ('no')'; 'n/a (free-form answers)' when there is no majority class."""
    if maj.get("accuracy") is None:
        return "n/a (free-form answers)"
    return f"{pct(maj['accuracy'])} {ci_text(maj['ci'])} ('{maj['answer']}')"


def task_title(report: dict[str, Any], task: str) -> str:
    return report.get("task_titles", {}).get(task) or TASK_NAMES.get(task, task)


def _num(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def selective_markdown(report: dict[str, Any]) -> list[str]:
    """The selective-prediction table: one row per risk-coverage curve (see eval.selective),
    with its AURC against random order and the oracle, saying plainly which are worse than
    random."""
    from eval.plots import selective_curves
    from eval.selective import against_random

    curves = selective_curves(report)
    if not curves:
        return []
    lines = ["## Selective prediction: answer only when P(no error) ≥ t", "",
             "Each row is one critic on one set of chains. Answering only the chains whose "
             "P(no error) is at least a threshold t trades coverage (share answered) for risk "
             "(share of the answered chains whose final answer is wrong against gold). AURC is "
             "the area under that risk-coverage curve (lower is better; a critic that orders "
             "the chains at random scores about the risk at full coverage, the best order "
             "scores the optimal AURC). Coverage at 90% accuracy: the most a threshold can "
             "answer with at most 10% of the answered chains wrong (0 when no threshold gets "
             "there). Chains with the same score are answered together. On the detection "
             "records the chains are the annotated ones and the critics are those of Table 2; "
             "on the dev sets the multitask model judges its own greedy answers, and, where "
             "the critic holds a combiner, the combined critic orders the same answers.", "",
             "AURC against random order: a critic that orders the chains at random has an "
             "expected AURC equal to the risk at full coverage, so AURC − random below 0 is "
             "a critic that puts wrong chains last, and above 0 one that orders them worse "
             "than random. Excess: (AURC − optimal) / (random − optimal), 0 for the oracle "
             "order, 1 for random, above 1 worse than random.", "",
             "| Chains | Critic | n | AURC | Optimal AURC | Risk at full coverage "
             "| AURC − random | Excess | Coverage at 90% accuracy (t) |",
             "|---|---|---|---|---|---|---|---|---|"]
    worse = []
    for panel, label, sel in curves:
        t = sel.get("threshold_at_target")
        vs = against_random(sel.get("aurc"), sel.get("aurc_optimal"),
                            sel.get("risk_at_full_coverage"))
        diff = vs["aurc_minus_random"]
        flag = " (worse than random)" if vs["worse_than_random"] else ""
        if vs["worse_than_random"]:
            worse.append(f"{label} on {panel}")
        lines.append(f"| {panel} | {label} | {sel['n']} | {_num(sel['aurc'])} | "
                     f"{_num(sel['aurc_optimal'])} | {_num(sel['risk_at_full_coverage'])} | "
                     + ("n/a" if diff is None else f"{diff:+.4f}{flag}") + " | "
                     f"{_num(vs['excess_aurc'], 2)} | "
                     f"{pct(sel['coverage_at_target'])}%"
                     + (f" (t = {t:.3g})" if t is not None else "") + " |")
    if worse:
        lines += ["", "Worse than random order (AURC above the risk at full coverage): "
                  + "; ".join(worse) + ". Ordering these chains by that critic's P(no error) "
                  "keeps more wrong answers at every coverage than not ordering them at all."]
    return lines + [""]


def _p_half_cell(cal: dict[str, Any]) -> str:
    """Accuracy at P >= 0.5, flagged when it is exactly the majority class's."""
    share = cal.get("gold_no_error_share", 0.0)
    majority = cal.get("majority", max(share, 1 - share))
    same = abs(cal["accuracy_p_ge_half"] - majority) < 1e-12
    return pct(cal["accuracy_p_ge_half"]) + (" (= majority)" if same else "")


def _diff_cell(d: dict[str, Any] | None) -> str:
    """'+0.057 [-0.06, 0.17], p 0.33' for the critic's AUROC minus a baseline's."""
    if not d or d.get("diff") is None:
        return ""
    return (f"{d['diff']:+.3f} {ci_text([d['lo'], d['hi']], scale=1, digits=3)}, "
            f"p {p_text(d['p_value'])}")


def _detection_row(name: str, cal: dict[str, Any], paper: str = "") -> str:
    task = cal.get("task", "strategyqa")
    share = cal.get("gold_no_error_share", 0.0)
    acc = ("no label written" if cal.get("accuracy") is None
           else f"{pct(cal['accuracy'])} {ci_text(cal.get('accuracy_ci'))}")
    unreadable = "" if cal.get("unreadable") is None else str(cal["unreadable"])
    return (f"| {DETECTION_SET_NAMES.get(task, task)} | {name} | {cal['n']} | {acc} | "
            f"{pct(max(share, 1 - share))} | {paper} | {unreadable} | {_p_half_cell(cal)} | "
            f"{_num(cal['auroc'])} {ci_text(cal.get('auroc_ci'), scale=1, digits=3)} | "
            f"{_num(cal['ece'])} | {_diff_cell(cal.get('critic_minus_baseline'))} |")


def _beats(d: dict[str, Any] | None) -> str | None:
    if not d or d.get("diff") is None:
        return None
    if d["lo"] is not None and d["lo"] > 0:
        return "beats it (the CI of the difference is above 0)"
    if d["hi"] is not None and d["hi"] < 0:
        return "is worse than it (the CI of the difference is below 0)"
    return "does not beat it (the CI of the difference includes 0)"


def table2_markdown(report: dict[str, Any]) -> list[str]:
    """Table 2: the critics, then each detection set's baselines on the same records, with
    the paired bootstrap of the fine-tuned critic's AUROC minus each other row's."""
    baselines = report.get("detection_baselines") or {}
    lines = ["## Table 2: error detection on the detection sets", "",
             "Accuracy as in the paper: right when the model says 'no error' and the "
             "annotators found none, or names any error and they found one; an "
             "unreadable label counts as wrong (column Unreadable). AUROC and "
             "ECE (10 equal-width bins) use the model's P('no error'), renormalised over "
             "the sixteen labels it was trained to write ('no error' and every "
             "combination of the four types). Majority: the share of the larger class "
             "(always saying 'error' or always 'no error'); Acc. P≥0.5 is marked "
             "'(= majority)' when it is exactly that, i.e. the threshold decides nothing. "
             "95% CIs: percentile bootstrap over the records. Every row of a set scores "
             "the same records: the ICL baseline's 4 shots come from that task's training "
             "feedback. The Sports set is held out from training by question, not by fact: "
             "its players, actions and sports are in the training feedback and in the "
             "shipped base's pre-training.", ""]
    if baselines:
        lines += ["Rows marked Baseline write no label (accuracy n/a) and give every record "
                  "a P(no error) of their own (docs/evaluation.md): the prior, a constant "
                  "equal to the training 'no error' share (AUROC 0.5 by construction); "
                  "self-consistency agreement, the share of answers sampled from the "
                  "answering model that agree with the chain's answer; the ICL baseline "
                  "after content-free calibration (Zhao et al., 2021); and, on Sports, a "
                  "rule checker over vocab.json, the ceiling for a critic that knows the "
                  "base's facts. Rows marked Signal alone are the combined critic's "
                  "training-free inputs (eval/critic_combiner.py). Critic − row: the critic's "
                  "AUROC (the combined critic where there is one, else the fine-tuned) minus "
                  "the row's, "
                  "with a paired percentile bootstrap 95% CI over the records (the same "
                  "resamples for both) and its two-sided p-value.", ""]
    lines += ["| Detection set | Model | n | Accuracy (%) [95% CI] | Majority (%) "
              "| Paper (%) | Unreadable | Acc. P≥0.5 (%) | AUROC [95% CI] | ECE "
              "| Critic − row AUROC [95% CI], p |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    done: set[str] = set()
    keys = list(report["calibration"])
    for n, (key, cal) in enumerate(report["calibration"].items()):
        flag = " (trained on these records)" if cal.get("trained_on_detection_set") else ""
        lines.append(_detection_row(CALIBRATION_NAMES.get(key, key) + flag, cal,
                                    PAPER_DETECTION.get(key, "")))
        prefix = "sports_" if key.startswith("sports_") else ""
        last = n + 1 == len(keys) or keys[n + 1].startswith("sports_") != bool(prefix)
        if last:
            for bkey, b in baselines.items():
                if bkey not in done and bkey.startswith("sports_") == bool(prefix):
                    done.add(bkey)
                    lines.append(_detection_row(BASELINE_NAMES.get(b["baseline"], bkey), b))
    for key in ("icl", "sports_icl"):
        shots = report["calibration"].get(key, {}).get("shots")
        if shots:
            task = report["calibration"][key].get("task", "strategyqa")
            lines += ["", f"The ICL baseline's prompt records for {TASK_NAMES.get(task, task)}"
                      " (training feedback): " + ", ".join(shots) + "."]
    verdicts = []
    for key, row in list(report["calibration"].items()) + list(baselines.items()):
        verdict = _beats(row.get("critic_minus_baseline"))
        if verdict:
            prefix = "sports_" if key.startswith("sports_") else ""
            name = BASELINE_NAMES.get(row.get("baseline", ""), CALIBRATION_NAMES.get(key, key))
            task = TASK_NAMES.get(row.get("task", "strategyqa"), row.get("task"))
            critic = report["calibration"].get(f"{prefix}combined") or \
                report["calibration"].get(f"{prefix}finetuned", {})
            verdicts.append(f"- {task}, {name.removeprefix('Baseline: ')} (AUROC "
                            f"{_num(row.get('auroc'))}): the critic (AUROC "
                            f"{_num(critic.get('auroc'))}) {verdict}.")
    if verdicts:
        lines += ["", "The critic against each baseline, on the same records:", "", *verdicts]
    return lines + [""]


def refine_markdown(report: dict[str, Any]) -> list[str]:
    """Refinement's rounds and per-round flips against gold, per task and seed."""
    rows = [r for r in report.get("runs", []) if r.get("refine")
            and not r.get("reused_earlier_seed")]
    if not rows:
        return []
    threshold = report.get("refine_threshold")
    critic = "the combined critic" if threshold and threshold.get("combined_critic") \
        else "the critic"
    rule = (f"rewrite only chains whose calibrated P(no error) from {critic} is below "
            f"τ = {threshold['tau']:.4g} ({threshold['chosen_on']}), then as the paper"
            if threshold else "the paper's: rewrite while the refine model names an error")
    lines = ["### Iterative refinement: rounds and flips", "",
             f"Rule: {rule}. Per round: the examples that ran it, and the answers it turned "
             "right → wrong and wrong → right against gold (chains replayed from each "
             "prediction's start and outputs). Start / final: answers right before the first "
             "round and at the end. Rounds used: how many examples made 0, 1, ... rewrites.",
             "", "| Task | Seed | Start right | Final right | Round: ran, right→wrong, "
             "wrong→right | Rounds used | Stops |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["refine"]
        flips = "; ".join(f"r{f['round']}: {f['ran']}, −{f['right_to_wrong']}, "
                          f"+{f['wrong_to_right']}" for f in s["flips"]) or "none"
        used = ", ".join(f"{k}: {v}" for k, v in s["rounds_used"].items())
        stops = ", ".join(f"{k}: {v}" for k, v in s["stops"].items())
        lines.append(f"| {task_title(report, r['task'])} | {r['seed']} | "
                     f"{s['start_right']}/{s['n']} | {s['final_right']}/{s['n']} | {flips} | "
                     f"{used} | {stops} |")
    return lines + [""]


def vote_markdown(report: dict[str, Any]) -> list[str]:
    """What the weighted votes leaned on: the share of samples with weight 1 and the margin."""
    rows = [r for r in report.get("runs", []) if r.get("vote")]
    if not rows:
        return []
    combined = any((r.get("params") or {}).get("combined_critic") for r in rows
                   if r["method"] == "wsc_soft")
    soft = (" wsc_soft weighs w + (1 − w)·P(no error), P from the combined critic (the "
            "learned P, verification and answer agreement)." if combined else "")
    lines = ["### Weighted votes: what the critic weighed", "",
             "Share of samples with weight 1 (wsc: the critic's argmax label is 'no error'; "
             "when it is near 0 every sample weighs w and the vote is a plain majority vote), "
             "the mean weight, and the mean vote margin: (top answer's total weight − the "
             f"runner-up's) / the total, 1 when every sample agrees.{soft}", "",
             "| Method | Task | Seed | Samples | Weight 1 (%) | Mean weight | Mean margin |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        v = r["vote"]
        share = "n/a" if v["share_weight_one"] is None else pct(v["share_weight_one"])
        lines.append(f"| {method_title(r['method'])} | {task_title(report, r['task'])} | "
                     f"{r['seed']} | {v['samples']} | {share} | {_num(v['mean_weight'])} | "
                     f"{_num(v['mean_vote_margin'])} |")
    return lines + [""]


def render_markdown(report: dict[str, Any], plots: list[str]) -> str:
    cfg = report["config"]
    tasks = list(cfg["tasks"])
    lines = ["# rhf evaluation report", ""]
    lines += [f"Created {report['created']} at commit `{report['code'].get('commit')}`"
              + (" (uncommitted changes)" if report["code"].get("dirty") else "") + ".", ""]
    scope = f"first {cfg['limit']} dev examples per task" if cfg["limit"] else "full dev sets"
    seeds = ", ".join(map(str, cfg["seeds"]))
    boot = report.get("statistics", {}).get("bootstrap", {})
    n_by_task = {t: report["majority"][t]["n"] for t in tasks} if "majority" in report else {}
    lines += ["## Table 1: accuracy on the dev sets (%)", "",
              f"{scope.capitalize()} (" + ", ".join(
                  f"{task_title(report, t)} n = {n}" for t, n in n_by_task.items())
              + f"); seeds {seeds}. Each cell: accuracy and its 95% confidence interval in "
              "square brackets. A method whose output changes with the seed (sampling, or "
              "shots drawn per seed) shows mean ± sample std over the seeds, and the CI is a "
              f"percentile bootstrap over questions (B = {boot.get('b')}, numpy seed "
              f"{boot.get('seed')}) of the seed-averaged accuracy; a method that gave one "
              "result (greedy on the same prompt, or one seed) shows that accuracy with its "
              "Wilson interval. In parentheses: the paper's Flan-T5 numbers, for reference "
              "(other dev split, other model).", ""]
    header = "| Method | " + " | ".join(task_title(report, t) for t in tasks) + " |"
    lines += [header, "|---" * (len(tasks) + 1) + "|"]
    pretrained = base_pretrained_on_format(report)
    for method, by_task in report["accuracy"].items():
        cells = []
        for t in tasks:
            ref = PAPER_ACCURACY.get(method, {}).get(t)
            if ref and method == "cot" and pretrained:
                ref = f"paper's 4-shot ICL, not like for like: {ref}"
            cells.append(accuracy_cell(by_task[t]) + (f" ({ref})" if ref else ""))
        lines.append(f"| {table1_title(report, method)} | " + " | ".join(cells) + " |")
    if "majority" in report:
        cells = [majority_cell(report["majority"][t]) for t in tasks]
        lines.append("| Majority class (of these dev questions) | " + " | ".join(cells) + " |")
        lines += ["", "The majority-class row always answers the most frequent gold answer of "
                  "the evaluated dev questions themselves (named in quotes), with its Wilson "
                  "interval: a method must beat it to show it learned anything."]
        if pretrained:
            lines += ["", f"The first row is {table1_title(report, 'cot').split(', ')[0]} "
                      "with a base model that rhf pre-trained on this very format (BIG-bench "
                      "explanations written as 'The answer is X because ...'): it is not the "
                      "paper's 4-shot in-context learning with a general model, and its "
                      "number is not compared like for like with the paper's."]
        if any(report["majority"][t].get("accuracy") is None for t in tasks):
            lines += ["A task with free-form answers has no majority class (n/a): almost "
                      "every question has its own answer, so always answering one says "
                      "nothing."]
    lines.append("")
    paired = [m for m, by_task in report["accuracy"].items()
              if any("vs_cot" in by_task[t] for t in tasks)]
    if paired:
        lines += ["### Paired test against CoT on the same questions", "",
                  "Exact McNemar test (two-sided binomial on the questions where exactly one "
                  "of the two is right), per seed against CoT with the same seed: +won "
                  "(the method right, CoT wrong) / −lost (the reverse), and the p-value.", "",
                  header, "|---" * (len(tasks) + 1) + "|"]
        for method in paired:
            lines.append(f"| {table1_title(report, method)} | " + " | ".join(
                paired_cell(report["accuracy"][method][t]) for t in tasks) + " |")
        lines.append("")
    if report["calibration"]:
        lines += table2_markdown(report)
    lines += refine_markdown(report) + vote_markdown(report)
    if report.get("step_critic"):
        lines += ["### Finding the first wrong step", "",
                  "The multitask model as a step critic: asked to describe the errors "
                  "(the description instruction it was trained on), the first step its text "
                  "names is its answer ('no error': none). Scored on the calibration records "
                  "that have step labels, read from the annotators' error descriptions by the "
                  "same parser (docs/step_labels.md); ProcessBench's score, records without "
                  "step labels counted, never given invented ones: "
                  + report["step_critic"]["markdown"], ""]
    lines += selective_markdown(report)
    if plots:
        lines += ["## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots] + [""]
    lines += ["## Provenance", "", "| Role | Model | Checkpoint |", "|---|---|---|"]
    for role, m in report["models"].items():
        run = m.get("run") or m.get("rhf_model") or {}
        keys = ("objective", "seed", "git_commit", "commit", "kind", "stage")
        brief = ", ".join(f"{k}={run[k]}" for k in keys if k in run)
        lines.append(f"| {role} | `{m['spec']}` | {brief or m.get('path', '')} |")
    lines += ["", "| Method | Parameters |", "|---|---|"]
    seen: set[str] = set()
    for r in report["runs"]:
        if r["method"] in seen:
            continue
        seen.add(r["method"])
        params = {k: v for k, v in r["params"].items()
                  if k not in ("shots", "mean_rounds", "prompt_id")}
        lines.append(f"| {r['method']} | " + ", ".join(f"{k}={v}" for k, v in params.items())
                     + " |")
    lines += ["", "Timings (s): " + ", ".join(f"{k} {v}" for k, v in report["timings_s"].items())
              + ".", "", "Per-run numbers, checkpoint configs and every prediction: "
              "`report.json` and `predictions/`.", ""]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out: str | Path, plots: bool = True) -> list[Path]:
    """Write report.json, report.md and (optionally) the PNG plots; return the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images: list[Path] = []
    if plots:
        from eval.plots import plot_accuracy, plot_reliability, plot_risk_coverage

        images.append(plot_accuracy(report, out / "accuracy.png"))
        if report["calibration"]:
            images.append(plot_reliability(report["calibration"], out / "reliability.png"))
        curve = plot_risk_coverage(report, out / "risk_coverage.png")
        if curve is not None:
            images.append(curve)
    report["plots"] = [p.name for p in images]
    write_json(out / "report.json", report)
    write_text(out / "report.md", render_markdown(report, report["plots"]))
    return [out / "report.json", out / "report.md", *images]
