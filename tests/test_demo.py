"""`rhf demo` on a reduced setting: every stage runs, the report holds every method and task,
and a second run reuses the cached stages."""

import json

import pytest
from typer.testing import CliRunner

from rhf_cli import app

METHODS = {"cot", "multitask", "wsc", "refine"}
TASKS = {"strategyqa", "sports_understanding"}


@pytest.mark.usefixtures("real_data")
def test_quick_demo_end_to_end_then_cached(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert set(report["accuracy"]) == METHODS
    for method in METHODS:
        assert set(report["accuracy"][method]) == TASKS
        for cell in report["accuracy"][method].values():
            assert len(cell["per_seed"]) == cell["seeds"] >= 1
            assert cell["mean"] == pytest.approx(sum(cell["per_seed"]) / cell["seeds"])
    assert {"finetuned", "icl"} <= set(report["calibration"])
    # Table 1 of report.md shows report.json's numbers, one row per method.
    from eval.report import METHOD_NAMES, pct

    table1 = (out / "report.md").read_text().split("## Table 1")[1].split("\n## ")[0]
    md_rows = {line.split(" | ")[0].strip("| "): line
               for line in table1.splitlines() if line.startswith("| ")}
    for method, by_task in report["accuracy"].items():
        row = md_rows[METHOD_NAMES.get(method, method)]
        for cell in by_task.values():
            assert pct(cell["mean"], cell["std"]) in row
    for png in ("accuracy.png", "reliability.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    timings = json.loads((out / "demo_timings.json").read_text())
    assert {"data", "base", "chains", "train-multitask", "train-refine", "eval"} == set(
        timings["stages"])
    assert not any(t["cached"] for t in timings["stages"].values())
    # The base model was pre-trained here and every trained model is a checkpoint folder.
    run = json.loads((out / "base/run/final/run.json").read_text())
    assert run["objective"] == "multitask"
    chains = [json.loads(line) for line in (out / "chains/strategyqa.jsonl").read_text()
              .splitlines()]
    assert len(chains) == 2 and all("parsed" in c for c in chains)

    again = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out)])
    assert again.exit_code == 0, again.output
    timings = json.loads((out / "demo_timings.json").read_text())
    assert all(t["cached"] for t in timings["stages"].values())
    assert "cached" in again.output


def test_shipped_config_follows_the_model_size():
    from eval.demo import shipped_config

    assert shipped_config("multitask", None).name == "tiny.yaml"
    assert shipped_config("multitask", "google/flan-t5-large").name == "flan-t5-large.yaml"
    assert shipped_config("refine", "google/flan-t5-xl").name == "flan-t5-xl_lora.yaml"
    assert shipped_config("refine", "/models/flan-t5-base-local").name == "flan-t5-base.yaml"
    for objective in ("multitask", "refine"):
        assert shipped_config(objective, "google/flan-t5-large").parent.name == objective


def test_a_changed_stage_reruns_every_later_stage(tmp_path):
    from eval.demo import Stages

    calls = []

    def run_all(a_inputs):
        stages = Stages(tmp_path, fresh=False, log=lambda _m: None)
        for name, inputs in (("a", a_inputs), ("b", {}), ("c", {"k": 1})):
            stages.run(name, inputs, lambda n=name: calls.append(n) or {"name": n})
        return stages

    run_all({"v": 1})
    assert calls == ["a", "b", "c"]
    stages = run_all({"v": 1})
    assert calls == ["a", "b", "c"] and all(t["cached"] for t in stages.times.values())
    run_all({"v": 2})
    assert calls == ["a", "b", "c", "a", "b", "c"]
