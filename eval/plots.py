"""PNG plots for the report: accuracy bars with error bars, and the reliability diagram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval.names import CALIBRATION_NAMES, TASK_NAMES, method_title


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
               label=method_title(method))
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
    fig.savefig(path, dpi=120, bbox_inches="tight")
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
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
