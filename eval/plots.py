"""PNG plots for the report: accuracy bars with error bars, and the reliability diagram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval.names import BASELINE_NAMES, CALIBRATION_NAMES, TASK_NAMES, table1_title


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy(report: dict[str, Any], path: Path) -> Path:
    """Grouped bars: one group per task, one bar per method; error bars are the 95% CIs of
    Table 1, and a dashed line across each group marks that task's majority class."""
    plt = _pyplot()
    tasks = list(report["config"]["tasks"])
    methods = list(report["accuracy"])
    width = 0.8 / max(1, len(methods))
    fig, ax = plt.subplots(figsize=(2.2 + 2.4 * len(tasks), 3.8))
    for j, method in enumerate(methods):
        stats = [report["accuracy"][method][t] for t in tasks]
        means = [100 * s["mean"] for s in stats]
        lower = [max(0.0, 100 * (s["mean"] - s["ci"][0])) for s in stats]
        upper = [max(0.0, 100 * (s["ci"][1] - s["mean"])) for s in stats]
        xs = [i + (j - (len(methods) - 1) / 2) * width for i in range(len(tasks))]
        ax.bar(xs, means, width, yerr=[lower, upper], capsize=3,
               label=table1_title(report, method))
    for i, t in enumerate(tasks):
        maj = report.get("majority", {}).get(t)
        if maj and maj.get("accuracy") is not None:
            ax.hlines(100 * maj["accuracy"], i - 0.45, i + 0.45, colors="black",
                      linestyles="--", lw=1.2,
                      label="majority class (of the dev questions)" if i == 0 else None)
    titles = report.get("task_titles", {})
    ax.set_xticks(range(len(tasks)), [titles.get(t) or TASK_NAMES.get(t, t) for t in tasks])
    ax.set_ylabel("dev accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"Accuracy with 95% CIs ({len(report['config']['seeds'])} seed(s))",
                 fontsize=9)
    fig.tight_layout()
    _save(fig, path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_reliability(calibration: dict[str, Any], path: Path) -> Path:
    """P('no error') against the observed share of error-free chains, per model."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect calibration")
    for key, cal in calibration.items():
        pts = [(b["mean_prob"], b["frequency"], b["count"]) for b in cal["bins"] if b["count"]]
        if not pts:
            continue
        xs, ys, ns = zip(*pts, strict=True)
        ece = cal["ece"]
        ax.plot(xs, ys, marker="o", label=f"{CALIBRATION_NAMES.get(key, key)} (ECE {ece:.3f})")
        for x, y, n in pts:
            ax.annotate(str(n), (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel("predicted P('no error')")
    ax.set_ylabel("observed share without error")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title("Reliability diagram (points: bin sizes)", fontsize=9)
    fig.tight_layout()
    _save(fig, path, dpi=120)
    plt.close(fig)
    return path


def selective_curves(report: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(panel, label, summary) of every risk-coverage curve in a report: one per calibration
    entry (each critic on each detection set) and one per dev task (multitask judging its own
    answers)."""
    curves: list[tuple[str, str, dict[str, Any]]] = []

    def walk(entries: dict[str, Any], prefix: str, top: str | None = None) -> None:
        # an entry holds "selective"; a detection set may group its critics one level down.
        # Its panel is its detection set: keys sports_* are the held-out Sports records.
        for key, cal in entries.items():
            if not isinstance(cal, dict):
                continue
            name = prefix + CALIBRATION_NAMES.get(key, key)
            if isinstance(cal.get("selective"), dict):
                panel = ("Sports detection records (held out)"
                         if (top or key).startswith("sports_")
                         else "StrategyQA calibration records")
                curves.append((panel, name, cal["selective"]))
            elif "selective" not in cal:
                walk(cal, name + ": ", top or key)

    walk(report.get("calibration") or {}, "")
    for key, b in (report.get("detection_baselines") or {}).items():
        if isinstance(b.get("selective"), dict):
            panel = ("Sports detection records (held out)" if key.startswith("sports_")
                     else "StrategyQA calibration records")
            curves.append((panel, BASELINE_NAMES.get(b.get("baseline"), key), b["selective"]))
    for task, sel in (report.get("selective_dev") or {}).items():
        curves.append(("dev sets: multitask's own answers", TASK_NAMES.get(task, task), sel))
    for task, sel in (report.get("selective_dev_combined") or {}).items():
        curves.append(("dev sets: multitask's own answers",
                       f"{TASK_NAMES.get(task, task)}, combined critic", sel))
    return curves


def plot_risk_coverage(report: dict[str, Any], path: Path) -> Path | None:
    """Risk (wrong final answers among those answered) against coverage, answering only when
    P(no error) >= t, one step curve per critic; the dotted line is 10% risk (90% accuracy).
    None when the report has no curve."""
    curves = selective_curves(report)
    if not curves:
        return None
    plt = _pyplot()
    panels = list(dict.fromkeys(panel for panel, _, _ in curves))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.8), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        for label, sel in ((lab, s) for p, lab, s in curves if p == panel):
            xs = [0.0] + [pt["coverage"] for pt in sel["points"]]
            ys = [sel["points"][0]["risk"]] + [pt["risk"] for pt in sel["points"]]
            ax.step(xs, ys, where="pre", label=f"{label} (AURC {sel['aurc']:.3f}, n {sel['n']})")
        ax.axhline(1 - (curves[0][2].get("target_accuracy") or 0.9), color="grey", ls=":",
                   lw=1, label="90% accuracy")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("coverage (share answered)")
        ax.set_ylabel("risk (share of answered chains wrong)")
        ax.set_title(panel, fontsize=9)
        ax.legend(fontsize=6, loc="upper left")
    fig.suptitle("Risk-coverage: answer only when P(no error) >= t", fontsize=9)
    fig.tight_layout()
    _save(fig, path, dpi=120)
    plt.close(fig)
    return path


def _save(fig: Any, path: Path, **kwargs: Any) -> None:
    """Render in memory, then write atomically as every output is: a full disk is one
    DiskFull line (feedback_data.files.disk_full) and leaves no half-written PNG."""
    import io

    from feedback_data.files.io import write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", **kwargs)
    write_bytes(path, buffer.getvalue())
