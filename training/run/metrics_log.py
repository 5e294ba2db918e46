"""One small logger: JSON lines (``jsonl`` in ``train.report_to``) and accelerate's trackers
(:mod:`training.recipe.trackers`), with running totals for the model card."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from feedback_data.files.io import write_text

METRICS_FILE = "metrics.jsonl"


class MetricsLogger:
    """log(metrics, step) -> a line in run_dir/metrics.jsonl (when ``jsonl``) and every
    tracker of the accelerator; the file is written on the main process only.

    On resume, lines past the checkpoint's step are dropped first, so the file reads as one
    uninterrupted run. :meth:`summary` totals the run (from the kept lines too): optimizer
    steps, real tokens (source + target, padding excluded), training seconds, and the last
    held-out metrics.
    """

    def __init__(self, run_dir: str | Path, accelerator: Any, resume_step: int | None = None,
                 jsonl: bool = True):
        self.path = Path(run_dir) / METRICS_FILE
        self.accelerator = accelerator
        self.main = accelerator.is_main_process
        self.jsonl = jsonl
        self.trackers = bool(accelerator.log_with)
        self.totals = {"steps": 0, "tokens": 0.0, "train_seconds": 0.0}
        self.last_eval: dict[str, float] = {}
        if self.main and resume_step is not None and self.path.exists():
            kept = [line for line in self.path.read_text().splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= resume_step]
            write_text(self.path, "".join(line + "\n" for line in kept))
            for line in kept:
                self._count(json.loads(line))
        elif self.main and resume_step is None and jsonl:
            write_text(self.path, "")

    def _count(self, line: dict[str, Any]) -> None:
        self.totals["steps"] = max(self.totals["steps"], int(line.get("step", 0)))
        if "train/window_s" in line and "train/tokens_per_s" in line:
            self.totals["tokens"] += line["train/tokens_per_s"] * line["train/window_s"]
            self.totals["train_seconds"] += line["train/window_s"]
        evals = {k: v for k, v in line.items() if k.startswith("eval/")}
        if evals:
            self.last_eval = evals

    def log(self, metrics: dict[str, float], step: int) -> None:
        self._count({"step": step, **metrics})
        if self.main and self.jsonl:
            line = {"step": step, "time": round(time.time(), 3), **metrics}
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")
        if self.trackers:
            self.accelerator.log(metrics, step=step)

    def summary(self) -> dict[str, Any]:
        return {"steps": self.totals["steps"], "tokens": round(self.totals["tokens"]),
                "train_seconds": round(self.totals["train_seconds"], 1),
                "last_eval": dict(self.last_eval)}

    def close(self) -> None:
        if self.trackers:
            self.accelerator.end_training()
