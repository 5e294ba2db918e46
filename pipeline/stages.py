"""Named stages that run once per set of inputs, with their times recorded and printed."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from feedback_data.jsonl import write_json


class Stages:
    """Run named stages once per set of inputs; record and print their times.

    A stage's key covers its inputs and the previous stage's key, so a stage reruns when any
    stage before it did.
    """

    def __init__(self, out: Path, fresh: bool, log: Callable[[str], None]) -> None:
        self.dir = out / "stages"
        self.fresh = fresh
        self.log = log
        self.times: dict[str, dict[str, Any]] = {}
        self.upstream = ""

    def run(self, name: str, inputs: dict[str, Any], fn: Callable[[], dict[str, Any]]
            ) -> dict[str, Any]:
        text = json.dumps(inputs, sort_keys=True, default=str) + self.upstream
        key = hashlib.sha1(text.encode()).hexdigest()
        self.upstream = key
        record = self.dir / f"{name}.json"
        if not self.fresh and record.exists():
            saved = json.loads(record.read_text())
            if saved.get("key") == key and all(Path(p).exists() for p in saved["paths"]):
                self.log(f"== {name}: cached ({saved['seconds']:.1f} s when it ran)")
                self.times[name] = {"seconds": 0.0, "cached": True}
                return saved["result"]
        self.log(f"== {name} ...")
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
        paths = [v for v in result.values() if isinstance(v, str) and Path(v).exists()]
        write_json(record, {"key": key, "seconds": seconds, "result": result, "paths": paths})
        self.times[name] = {"seconds": seconds, "cached": False}
        self.log(f"== {name}: done in {seconds:.1f} s")
        return result
