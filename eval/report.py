"""report.json and report.md: the paper's two tables (accuracy, error detection) and provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feedback_data.jsonl import write_json

METHOD_NAMES = {
    "cot": "CoT k-shot ICL (base model)",
    "multitask": "Multitask fine-tuned",
    "wsc": "Weighted self-consistency",
    "refine": "Iterative refinement",
}
TASK_NAMES = {"strategyqa": "StrategyQA", "sports_understanding": "Sports Understanding"}
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
CALIBRATION_NAMES = {"icl": "ICL baseline (base model, 4-shot)",
                     "finetuned": "Multitask fine-tuned"}


def pct(mean: float, std: float | None = None) -> str:
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def _num(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def render_markdown(report: dict[str, Any], plots: list[str]) -> str:
    cfg = report["config"]
    tasks = list(cfg["tasks"])
    lines = ["# rhf evaluation report", ""]
    lines += [f"Created {report['created']} at commit `{report['code'].get('commit')}`"
              + (" (uncommitted changes)" if report["code"].get("dirty") else "") + ".", ""]
    scope = f"first {cfg['limit']} dev examples per task" if cfg["limit"] else "full dev sets"
    lines += ["## Table 1: accuracy on the dev sets (%)", "",
              f"Mean ± sample standard deviation over seeds {', '.join(map(str, cfg['seeds']))};"
              f" {scope}. In brackets: the paper's Flan-T5 numbers, for reference.", ""]
    header = "| Method | " + " | ".join(TASK_NAMES.get(t, t) for t in tasks) + " |"
    lines += [header, "|---" * (len(tasks) + 1) + "|"]
    for method, by_task in report["accuracy"].items():
        cells = []
        for t in tasks:
            s = by_task[t]
            ref = PAPER_ACCURACY.get(method, {}).get(t)
            cells.append(pct(s["mean"], s["std"]) + (f" ({ref})" if ref else ""))
        lines.append(f"| {METHOD_NAMES.get(method, method)} | " + " | ".join(cells) + " |")
    lines.append("")
    if report["calibration"]:
        lines += ["## Table 2: error detection on the calibration records", "",
                  "Accuracy as in the paper: right when the model says 'no error' and the "
                  "annotators found none, or names any error and they found one. AUROC and "
                  "ECE (10 equal-width bins) use the model's P('no error'), renormalised over "
                  "the five labels it was trained to write.", "",
                  "| Model | n | Accuracy (%) | Paper (%) | Unreadable | Acc. P≥0.5 (%) "
                  "| AUROC | ECE |", "|---|---|---|---|---|---|---|---|"]
        for key, cal in report["calibration"].items():
            lines.append(
                f"| {CALIBRATION_NAMES.get(key, key)} | {cal['n']} | {pct(cal['accuracy'])} | "
                f"{PAPER_DETECTION.get(key, '')} | {cal['unreadable']} | "
                f"{pct(cal['accuracy_p_ge_half'])} | {_num(cal['auroc'])} | {_num(cal['ece'])} |")
        lines += ["", "The ICL baseline leaves out its 4 prompt records: "
                  + ", ".join(report["calibration"].get("icl", {}).get("left_out", [])) + ".", ""]
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
        params = {k: v for k, v in r["params"].items() if k not in ("shots", "mean_rounds")}
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
        from eval.plots import plot_accuracy, plot_reliability

        images.append(plot_accuracy(report, out / "accuracy.png"))
        if report["calibration"]:
            images.append(plot_reliability(report["calibration"], out / "reliability.png"))
    report["plots"] = [p.name for p in images]
    write_json(out / "report.json", report)
    (out / "report.md").write_text(render_markdown(report, report["plots"]), encoding="utf-8")
    return [out / "report.json", out / "report.md", *images]
