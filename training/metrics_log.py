"""One small logger: JSON lines always, TensorBoard through accelerate's trackers if installed."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None or \
        importlib.util.find_spec("tensorboardX") is not None


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        elif isinstance(v, bool | int | float | str):
            out[key] = v
        else:
            out[key] = str(v)
    return out


class MetricsLogger:
    """log(metrics, step) -> a line in run_dir/metrics.jsonl (+ TensorBoard); main process only.

    On resume, lines past the checkpoint's step are dropped first, so the file reads as one
    uninterrupted run.
    """

    def __init__(self, run_dir: str | Path, accelerator: Any, resume_step: int | None = None):
        self.path = Path(run_dir) / METRICS_FILE
        self.accelerator = accelerator
        self.main = accelerator.is_main_process
        self.trackers = bool(accelerator.log_with)
        if self.main and resume_step is not None and self.path.exists():
            kept = [line for line in self.path.read_text().splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= resume_step]
            self.path.write_text("".join(line + "\n" for line in kept))
        elif self.main and resume_step is None:
            self.path.write_text("")

    def log_config(self, config: dict[str, Any]) -> None:
        if self.trackers:
            self.accelerator.init_trackers("tensorboard", config=_flat(config))

    def log(self, metrics: dict[str, float], step: int) -> None:
        if self.main:
            line = {"step": step, "time": round(time.time(), 3), **metrics}
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")
        if self.trackers:
            self.accelerator.log(metrics, step=step)

    def close(self) -> None:
        if self.trackers:
            self.accelerator.end_training()
