"""`rhf demo` on a reduced setting: every stage runs, the report holds every method and task,
a second run reuses the cached stages, and two fresh runs give identical numbers."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rhf_cli import app

METHODS = {"cot", "multitask", "wsc", "wsc_soft", "refine"}
TASKS = {"strategyqa", "sports_understanding"}
ROOT = Path(__file__).resolve().parents[1]


def _numbers(out: Path) -> dict:
    """Every number and prediction behind a report (what must reproduce exactly)."""
    report = json.loads((out / "report.json").read_text())
    runs = [{k: r[k] for k in ("method", "task", "seed", "accuracy", "unparsed")}
            for r in report["runs"]]
    preds = {p.name: p.read_text() for p in sorted((out / "predictions").glob("*.jsonl"))}
    return {"runs": runs, "accuracy": report["accuracy"], "predictions": preds,
            "calibration": {k: {m: v for m, v in cal.items() if m not in ("predictions", "model")}
                            for k, cal in report["calibration"].items()}}


@pytest.mark.usefixtures("real_data")
def test_quick_demo_end_to_end_then_cached(tmp_path):
    from feedback_data.records.provenance import git_commit

    commit = git_commit()
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert set(report["accuracy"]) == METHODS
    for run in report["runs"]:
        # Each accuracy is what its predictions file says, recomputed here.
        lines = [json.loads(x) for x in (out / run["predictions"]).read_text().splitlines()]
        assert len(lines) == run["n_examples"] == 3
        right = sum(x["answer"] == x["gold"] for x in lines)
        assert run["accuracy"] == right / 3
    for method in METHODS:
        assert set(report["accuracy"][method]) == TASKS
        for cell in report["accuracy"][method].values():
            assert len(cell["per_seed"]) == cell["seeds"] >= 1
            assert cell["mean"] == pytest.approx(sum(cell["per_seed"]) / cell["seeds"])
    assert {"finetuned", "icl"} <= set(report["calibration"])
    # Table 1 of report.md shows report.json's numbers, one row per method.
    from eval.names import table1_title
    from eval.report import accuracy_cell

    table1 = (out / "report.md").read_text().split("## Table 1")[1].split("\n## ")[0]
    table1 = table1.split("\n### ")[0]  # the accuracy table, not the paired tests below it
    md_rows = {line.split(" | ")[0].strip("| "): line
               for line in table1.splitlines() if line.startswith("| ")}
    for method, by_task in report["accuracy"].items():
        row = md_rows[table1_title(report, method)]
        for cell in by_task.values():
            assert accuracy_cell(cell) in row
    for png in ("accuracy.png", "reliability.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    timings = json.loads((out / "demo_timings.json").read_text())
    assert {"data", "base", "chains", "train-multitask", "train-refine", "eval"} == set(
        timings["stages"])
    assert not any(t["cached"] for t in timings["stages"].values())
    # The shipped base is used, and its record travels into the report.
    assert report["config"]["base_model"].endswith("models/tiny-base")
    record = report["config"]["extra"]["demo"]["base_record"]
    assert record["metrics"]["sports_understanding/dev"]["n"] == 197
    chains = [json.loads(line) for line in (out / "chains/strategyqa.jsonl").read_text()
              .splitlines()]
    assert len(chains) == 2 and all(c["parsed"] for c in chains)

    # The report says which stages made it, and at which commit.
    made = report["config"]["extra"]["demo"]["stages"]
    assert set(made) == {"data", "base", "chains", "train-multitask", "train-refine"}
    assert all(not s["reused"] and s["commit"] == commit for s in made.values()), made

    (out / "stages" / "eval.json").unlink()  # the evaluation re-runs; the rest is reused
    again = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out)])
    assert again.exit_code == 0, again.output
    timings = json.loads((out / "demo_timings.json").read_text())
    assert [n for n, t in timings["stages"].items() if not t["cached"]] == ["eval"]
    assert f"== train-multitask: reused from commit {commit} " in again.output
    made = json.loads((out / "report.json").read_text())["config"]["extra"]["demo"]["stages"]
    assert all(s["reused"] and s["commit"] == commit for s in made.values()), made

    again = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out)])
    assert again.exit_code == 0, again.output
    timings = json.loads((out / "demo_timings.json").read_text())
    assert all(t["cached"] for t in timings["stages"].values())
    assert "== eval: reused from commit " in again.output


@pytest.mark.usefixtures("real_data")
def test_two_fresh_runs_give_identical_numbers(tmp_path):
    """Separate processes, different OMP_NUM_THREADS: the demo fixes its own thread count."""
    outs = []
    for i, threads in enumerate(("1", "3")):
        out = tmp_path / f"run{i}"
        env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        proc = subprocess.run([sys.executable, "-m", "rhf_cli", "demo", "--quick", "--out",
                               str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=900)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.append(_numbers(out))
    assert outs[0] == outs[1]


def test_shipped_base_is_small_and_explains_itself():
    from pipeline.base_model import SHIPPED_BASE, read_record

    weights = SHIPPED_BASE / "model.safetensors"
    assert weights.stat().st_size <= 25 * 1024 * 1024
    record = read_record(SHIPPED_BASE)
    for key in ("config", "seed", "git_commit", "metrics", "train_seconds", "device"):
        assert record[key] is not None, key
    # The bar the base was built for: Sports CoT on the full dev set.
    assert record["metrics"]["sports_understanding/dev"]["accuracy"] >= 0.75


def test_shipped_config_follows_the_model_size():
    from pipeline.demo import shipped_config

    assert shipped_config("multitask", None).name == "demo.yaml"
    assert shipped_config("multitask", "google/flan-t5-large").name == "flan-t5-large.yaml"
    assert shipped_config("refine", "google/flan-t5-xl").name == "flan-t5-xl_lora.yaml"
    assert shipped_config("refine", "/models/flan-t5-base-local").name == "flan-t5-base.yaml"
    for objective in ("multitask", "refine"):
        assert shipped_config(objective, "google/flan-t5-large").parent.name == objective


def test_a_changed_stage_reruns_every_later_stage(tmp_path):
    from pipeline.stages import Stages

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


def test_a_change_to_a_methods_source_reruns_exactly_the_stages_that_use_it(tmp_path):
    """Stage keys include the code each stage runs (the demo's own declarations, on a copy
    of the source tree): editing inference/methods.py re-runs the evaluation only, editing
    the combined critic its fit and the evaluation; editing the training loop re-runs both
    trainings and what follows them. A reused stage says from which commit its result comes;
    a re-run says which files changed."""
    import shutil

    from pipeline.demo import STAGE_AFTER, STAGE_CODE
    from pipeline.stage_code import PACKAGES
    from pipeline.stages import Stages

    src = tmp_path / "src"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    ran: list[str] = []
    logs: list[str] = []

    def run_all() -> list[str]:
        ran.clear()
        stages = Stages(tmp_path / "out", fresh=False, log=logs.append, root=src,
                        glue=("pipeline.demo",))
        for name in ("data", "base", "chains", "train-multitask", "train-refine", "fit-critic",
                     "eval"):
            shipped_base = name == "base"  # as the demo runs it: no code, no stage before
            stages.run(name, {"name": name}, lambda n=name: ran.append(n) or {"name": n},
                       code=() if shipped_base else STAGE_CODE[name],
                       after=() if shipped_base else STAGE_AFTER.get(name))
        return list(ran)

    everything = ["data", "base", "chains", "train-multitask", "train-refine", "fit-critic",
                  "eval"]
    assert run_all() == everything
    logs.clear()
    assert run_all() == []
    assert all(re.fullmatch(r"== [a-z-]+: reused from commit \S+ \(.*\)", line)
               for line in logs), logs
    methods = src / "inference" / "methods.py"
    methods.write_text(methods.read_text() + "\n# a change to a method\n")
    logs.clear()
    # the critic's fit reads chains through inference.combined_critic, never the methods
    assert run_all() == ["eval"]
    assert any(re.fullmatch(r"== eval \.\.\. \(its code changed since commit \S+: "
                            r"inference/methods\.py\)", line) for line in logs), logs
    combined = src / "inference" / "combined_critic.py"
    combined.write_text(combined.read_text() + "\n# a change to the combined critic\n")
    assert run_all() == ["fit-critic", "eval"]
    loop = src / "training" / "recipe" / "loop.py"
    loop.write_text(loop.read_text() + "\n# a change to the training loop\n")
    assert run_all() == ["train-multitask", "train-refine", "fit-critic", "eval"]
    demo = src / "pipeline" / "demo.py"
    demo.write_text(demo.read_text() + "\n# the demo's glue\n")
    assert run_all() == ["data", "chains", "train-multitask", "train-refine", "fit-critic",
                         "eval"]
