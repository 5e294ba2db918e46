"""Three more real BIG-bench tasks, each a task YAML with no code, through the whole loop on
the tiny models: chains -> the real Label Studio (its answer area) -> simulated annotation ->
pull -> two training steps of each objective -> `rhf eval` with every method.

navigate (yes/no, True/False in the file), disambiguation_qa (multiple choice) and
object_counting (numeric, "three" and "3" both gold) are read by name from the workspace's
shared BIG-bench folder (RHF_DATA_DIR); their specs and shot files are in tests/assets/tasks/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedback_data.records.jsonl import read_records
from feedback_data.records.schema import Chain, FeedbackItem
from feedback_data.tasks.data import dev_set
from feedback_data.tasks.loaders import fetch_bigbench_tasks
from feedback_data.tasks.registry import get_task
from feedback_data.text.answers import options_of
from rhf_cli import app

pytestmark = [pytest.mark.labelstudio, pytest.mark.usefixtures("real_data")]
ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "tests" / "assets" / "tasks"
BASE = ROOT / "models" / "tiny-base"
runner = CliRunner()
TASKS = ["navigate", "disambiguation_qa", "object_counting"]
TRAIN = ["max_source_len=96", "max_target_len=48", "--max-steps", "2", "batch_size=4",
         "tensorboard=false", "progress_bar=false", "eval_fraction=0", "save_every=0",
         "data.tasks=[]"]


@pytest.fixture(scope="module", autouse=True)
def _extracted(real_data):
    """The three tasks from the data sources (cached afterwards)."""
    fetch_bigbench_tasks(TASKS)


def rhf(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (args, result.output)
    return result.output


@pytest.mark.parametrize("name", TASKS)
def test_task_yaml_runs_the_whole_loop(name, ls_env, project_title, tmp_path):
    spec_file = SPECS / f"{name}.yaml"
    spec = get_task(str(spec_file))
    chains_file, feedback = tmp_path / "chains.jsonl", tmp_path / "feedback.jsonl"
    rhf("chains", "generate", "--model", BASE, "--task", spec_file, "--split", "train",
        "--limit", 4, "--k", 2, "--max-new-tokens", 32, "--out", chains_file)
    chains = read_records(chains_file, Chain)
    assert len(chains) == 4 and {c.task for c in chains} == {name}

    assert f"{spec.answer_type} answers" in rhf("annotate", "setup", "--task", spec_file,
                                                "--project", project_title)
    assert "pushed 4 tasks" in rhf("annotate", "push", chains_file, "--task", spec_file,
                                   "--project", project_title)
    rhf("annotate", "simulate", "--project", project_title)
    rhf("annotate", "pull", feedback, "--project", project_title)
    items = read_records(feedback, FeedbackItem)
    assert len(items) == 4
    for item in items:
        gold = item.example.answer
        # The bot corrects to the gold answer through the answer area (or the correction).
        assert item.feedback.correction.answer == gold
        assert f"The answer is {gold} because" in item.feedback.correction.text
        assert bool(item.feedback.error_types) == (item.chain.answer != gold)
        if spec.answer_type == "multiple_choice":
            assert gold in "ABCDEF"[:len(options_of(item.example))]
        if spec.answer_type == "free_form":
            assert gold.isdigit()

    stats = json.loads(rhf("data", "stats", "--task", spec_file, "--feedback", feedback,
                           "--json"))
    assert stats["task_specs"][name]["answer_type"] == spec.answer_type
    assert stats["feedback_files"][str(feedback)]["records"] == 4
    for fmt in ("sft-critique", "processbench"):
        rhf("data", "export", tmp_path / f"{fmt}.jsonl", "--format", fmt, "--feedback",
            feedback)
    bench = [json.loads(line) for line in (tmp_path / "processbench.jsonl").read_text()
             .splitlines()]
    by_id = {i.feedback.id: i for i in items}
    assert all(row["final_answer_correct"] == (by_id[row["id"]].chain.answer
                                               == by_id[row["id"]].example.answer)
               for row in bench)

    for objective in ("multitask", "refine"):
        rhf("train", "--objective", objective, "--model", BASE, "--out", tmp_path / objective,
            f"data.extra_feedback=[{feedback}]", *TRAIN)
        run = json.loads((tmp_path / objective / "run.json").read_text())
        assert run["counts"]["records_total"] == 4 and run["counts"]["pairs_train"] > 0

    out = tmp_path / "eval"
    rhf("eval", "--model", tmp_path / "multitask", "--base-model", BASE, "--refine-model",
        tmp_path / "refine", "--tasks", spec_file, "--limit", 2, "--k", 2, "--n", 2,
        "--rounds", 1, "--max-new-tokens", 24, "--calibration-feedback", feedback,
        "--calibration-limit", 2, "--bootstrap", 50, "--no-plots", "--out", out)
    report = json.loads((out / "report.json").read_text())
    assert set(report["accuracy"]) == {"cot", "multitask", "wsc", "wsc_soft", "refine"}
    dev = dev_set(spec)[:2]
    for method, by_task in report["accuracy"].items():
        assert 0.0 <= by_task[name]["mean"] <= 1.0
        assert by_task[name]["ci"][0] <= by_task[name]["mean"] <= by_task[name]["ci"][1]
        assert method == "cot" or by_task[name]["vs_cot"][0]["discordant"] <= 2  # McNemar
        rows = [json.loads(line) for line in
                (out / "predictions" / f"{method}_{name}_seed0.jsonl").read_text().splitlines()]
        assert [r["example_id"] for r in rows] == [e.id for e in dev]
        hits = sum(r["answer"] == r["gold"] for r in rows)
        assert by_task[name]["mean"] == pytest.approx(hits / 2)
    majority = report["majority"][name]
    if spec.answer_type == "free_form":
        assert majority["accuracy"] is None
        assert "n/a (free-form answers)" in (out / "report.md").read_text()
    else:
        golds = [e.answer for e in dev]
        assert majority["count"] == max(golds.count(g) for g in golds)
    assert report["calibration"]["finetuned"]["n"] == 2
    assert spec.title in (out / "report.md").read_text()
