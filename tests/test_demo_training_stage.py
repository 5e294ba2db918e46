"""A demo training stage trains the way `rhf train` does, and once: through the objective
registry, with the run's fields required once, and its run folder claimed once (owning the
training run's entries and the stage key, so a later stage with new inputs may clear it).

One tiny refine run (one step) through ``pipeline.demo._train``, with spies on the three."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import training.recipe.loop  # noqa: F401  (loaded, so the spies replace its names too)
import training.recipe.refine  # noqa: F401
import training.run.run_folder  # noqa: F401
from feedback_data.files import run_mark
from pipeline import demo
from training.recipe import objectives
from training.run import config_checks
from training.run.run_folder import OWNS as TRAIN_OWNS

ROOT = Path(__file__).resolve().parents[1]
# One short step on the tiny model; no validation, evaluation or checkpoints.
QUICK = {
    "data.max_records": 16, "data.max_source_len": 48, "data.max_target_len": 32,
    "data.eval_fraction": 0.0, "train.max_tokens": 0, "train.batch_size": 8,
    "train.max_steps": 1, "train.log_every": 1, "train.eval_every": 0, "train.save_every": 0,
    "train.validate": False, "train.select_by": "", "train.patience": 0,
    "train.report_to": ["jsonl"], "train.progress_bar": False, "train.warmup_steps": 0,
}


def _spy(mp: pytest.MonkeyPatch, owner: Any, name: str, calls: list[tuple[Any, ...]]
         ) -> None:
    """Replace ``owner.name`` with a recording pass-through in every loaded module holding
    it (a module that imported the name has its own reference)."""
    original: Callable[..., Any] = getattr(owner, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    for module in list(sys.modules.values()):
        if getattr(module, "__dict__", {}).get(name) is original:
            mp.setattr(module, name, spy)


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory, real_data: Path) -> dict[str, Any]:
    """A demo training stage run with spies: the calls each saw, and the run folder."""
    from training.model.tiny_model import init_tiny

    root = tmp_path_factory.mktemp("demo-stage")
    base = init_tiny(root / "base", seed=0)
    out = root / "demo" / "train" / "refine"
    calls: dict[str, list[tuple[Any, ...]]] = {"train": [], "require": [], "claim": []}
    with pytest.MonkeyPatch.context() as mp:
        _spy(mp, objectives, "train", calls["train"])
        _spy(mp, config_checks, "require_run_fields", calls["require"])
        _spy(mp, run_mark, "claim", calls["claim"])
        final = demo._train("refine", ROOT / "configs" / "refine" / "demo.yaml", str(base),
                            out, [], QUICK, "key-1")
    return {"calls": calls, "out": out, "final": Path(final)}


def test_a_demo_training_stage_trains_through_the_objective_registry(stage):
    assert stage["final"] == stage["out"] / "final" and stage["final"].is_dir()
    calls = stage["calls"]["train"]
    assert len(calls) == 1  # objectives.train(cfg), as `rhf train` calls it
    [(cfg,)] = calls
    assert cfg.objective == "refine" and Path(cfg.train.output_dir) == stage["out"]


def test_a_demo_training_run_requires_its_fields_once(stage):
    calls = stage["calls"]["require"]
    assert len(calls) == 1
    [(cfg,)] = calls
    assert Path(cfg.train.output_dir) == stage["out"]


def test_a_demo_training_stage_claims_its_run_folder_once(stage):
    out = stage["out"]
    claims = [args for args in stage["calls"]["claim"] if Path(args[0]) == out]
    assert len(claims) == 1
    mark = json.loads((out / run_mark.MARK_NAME).read_text())
    assert mark["kind"] == "rhf train" and len(mark["history"]) == 1
    assert set(mark["owns"]) == {*TRAIN_OWNS, demo.STAGE_KEY}
    assert run_mark.foreign_entries(out) == []
    # The next stage with other inputs clears the whole run: only the mark stays.
    assert demo.prepare_stage_run(out, "key-2") is False
    assert sorted(p.name for p in out.iterdir()) == [run_mark.MARK_NAME, demo.STAGE_KEY]
