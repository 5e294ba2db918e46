"""The training benchmark's steady-state rate, against hand-worked windows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location(
    "bench_train", Path(__file__).resolve().parents[1] / "scripts" / "bench_train.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _window(pairs: float, tokens: float, seconds: float) -> dict:
    return {"train/examples_per_s": pairs / seconds, "train/tokens_per_s": tokens / seconds,
            "train/window_s": seconds, "train/loss": 1.0}


def test_steady_rate_leaves_out_the_warm_up_windows() -> None:
    lines = [_window(40, 4000, 8.0),   # warm-up: 5 pairs/s
             {"eval/loss": 2.0},        # not a training window
             _window(40, 4000, 1.0),
             _window(20, 3000, 1.0)]
    # (40 + 20) pairs and (4000 + 3000) tokens over 2 s
    assert bench.steady_rate(lines, skip_windows=1) == pytest.approx((30.0, 3500.0, 2))
    # everything: 100 pairs, 11000 tokens over 10 s
    assert bench.steady_rate(lines, skip_windows=0) == pytest.approx((10.0, 1100.0, 3))
    with pytest.raises(SystemExit, match="no steady-state window"):
        bench.steady_rate(lines, skip_windows=3)
