"""Named stages that run once per set of inputs and code, with their times recorded and
printed.

A stage's key covers its inputs, its code (:mod:`pipeline.stage_code`: the sha256 of every
source file the stage's modules import, and the package versions) and the keys of the
stages it reads from, so a stage re-runs when its inputs, its code or a stage before it
changed, and is reused otherwise. A reused stage says from which commit its result comes;
a re-run says what changed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedback_data.files.io import write_json
from feedback_data.records.provenance import git_commit
from pipeline.stage_code import ROOT, changed_files, fingerprint


class Stages:
    """Run named stages once per set of inputs and code; record and print their times."""

    def __init__(self, out: Path, fresh: bool, log: Callable[[str], None],
                 root: Path = ROOT, glue: Iterable[str] = ()) -> None:
        """``glue``: modules whose own file is part of every stage's code (the pipeline that
        calls the stages), without what they import."""
        self.dir = out / "stages"
        self.glue = tuple(glue)
        self.fresh = fresh
        self.log = log
        self.root = root
        self.commit = git_commit()
        self.times: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}

    def run(self, name: str, inputs: dict[str, Any], fn: Callable[[], dict[str, Any]],
            code: Iterable[str] = (), after: Iterable[str] | None = None) -> dict[str, Any]:
        """Run ``fn`` unless a result for the same key is saved. ``code``: the modules the
        stage runs; ``after``: the stages it reads from (default: the one before it)."""
        upstream = list(self.keys)[-1:] if after is None else list(after)
        code_print = fingerprint(code, self.root, shallow=self.glue if code else ())
        text = json.dumps({"inputs": inputs, "code": code_print["sources"],
                           "packages": code_print["packages"],
                           "after": {u: self.keys[u] for u in upstream if u in self.keys}},
                          sort_keys=True, default=str)
        key = hashlib.sha1(text.encode()).hexdigest()
        self.keys[name] = key
        record = self.dir / f"{name}.json"
        saved = None
        if record.exists():
            try:
                saved = json.loads(record.read_text())
            except ValueError:
                saved = None
        if not self.fresh and saved and saved.get("key") == key and all(
                Path(p).exists() for p in saved["paths"]):
            commit = saved.get("commit") or "an unknown commit"
            self.log(f"== {name}: reused from commit {commit} ({saved['seconds']:.1f} s when "
                     f"it ran{', ' + saved['ran_at'] if saved.get('ran_at') else ''})")
            self.times[name] = {"seconds": 0.0, "cached": True, "commit": saved.get("commit"),
                                "sources": code_print["sources"]}
            return saved["result"]
        self.log(f"== {name} ...{self._why(saved, code_print)}")
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
        paths = [v for v in result.values() if isinstance(v, str) and Path(v).exists()]
        write_json(record, {"key": key, "seconds": seconds, "result": result, "paths": paths,
                            "commit": self.commit,
                            "ran_at": datetime.now(UTC).isoformat(timespec="seconds"),
                            "code": {"sources": code_print["sources"],
                                     "files": code_print["files"],
                                     "packages": code_print["packages"]}})
        self.times[name] = {"seconds": seconds, "cached": False, "commit": self.commit,
                            "sources": code_print["sources"]}
        self.log(f"== {name}: done in {seconds:.1f} s")
        return result

    def _why(self, saved: dict[str, Any] | None, code_print: dict[str, Any]) -> str:
        """' (its code changed since commit X: a.py, b.py)' when a saved run is superseded."""
        if self.fresh or not saved:
            return ""
        changed = changed_files(saved.get("code"), code_print)
        if not changed:
            return " (its inputs, or a stage before it, changed)"
        shown = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more"
                                          if len(changed) > 4 else "")
        return f" (its code changed since commit {saved.get('commit')}: {shown})"

    def provenance(self) -> dict[str, dict[str, Any]]:
        """Per stage so far: reused or run, at which commit, with which code."""
        return {name: {"reused": t["cached"], "commit": t.get("commit"),
                       "sources": t.get("sources")} for name, t in self.times.items()}
