"""Issue 31's 'done when': a BIG-bench task.json (the shared navigate task, by path) and a
BIG-Bench Hard JSON plus its CoT prompt file (tests/assets/bbh) each go from the spec to an
`rhf eval` report and Label Studio import files with no conversion by hand, on the shipped
tiny base; the offline `rhf annotate config` / `rhf annotate tasks` files import into the
real Label Studio. Plus the offline files' exact content, without a model or a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotation import labeling_config as lc
from feedback_data.records.jsonl import write_records
from feedback_data.records.schema import Chain, make_chain_id
from feedback_data.tasks.data import split_examples
from feedback_data.tasks.registry import get_task
from feedback_data.text.answers import parse_answer_chain
from rhf_cli import app

ROOT = Path(__file__).resolve().parents[2]
BBH = ROOT / "tests" / "assets" / "bbh"
TINY_BASE = str(ROOT / "models" / "tiny-base")
runner = CliRunner()


def rhf(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, f"rhf {' '.join(map(str, args))}: {result.output}"
    return result.output


def bigbench_spec(folder: Path, tasks: Path) -> Path:
    """The shared BIG-bench navigate task by path, shots from the BBH-layout prompt file."""
    path = folder / "navigate.yaml"
    path.write_text(f"name: navigate\nloader: {{bigbench_file: {tasks / 'navigate'}}}\n"
                    f"answer: {{type: yes_no}}\nshots: {{prompt: {BBH / 'navigate_cot.txt'}}}\n",
                    encoding="utf-8")
    return path


def chain_for(example, text: str) -> Chain:
    answer, steps, parsed = parse_answer_chain(text, example)
    return Chain(id=make_chain_id(example.id, "m", "p"), example_id=example.id,
                 task=example.task, question=example.question, model="m", prompt_id="p",
                 text=text, answer=answer, steps=steps, parsed=parsed)


def test_offline_config_and_tasks_files(tmp_path):
    spec = get_task(str(BBH / "snarks.yaml"))
    first = split_examples(spec, "all")[0]
    chains = tmp_path / "chains.jsonl"
    write_records(chains, [chain_for(first, "Let's think step by step. (B) is plain. So the "
                                            "answer is (B).")])
    out = rhf("annotate", "config", "--task", BBH / "snarks.yaml", "--out", tmp_path / "c.xml")
    assert out.strip() == f"wrote the labeling interface to {tmp_path / 'c.xml'}"
    assert (tmp_path / "c.xml").read_text() == lc.labeling_config("multiple_choice")
    assert rhf("annotate", "config").strip() == lc.labeling_config("yes_no").strip()
    rhf("annotate", "tasks", chains, "--task", BBH / "snarks.yaml", "--out",
        tmp_path / "t.json")
    (task,) = json.loads((tmp_path / "t.json").read_text())
    data = task["data"]
    assert data[lc.DATA_QUESTION] == first.question
    # the correction is pre-filled with the chain as the parser reads it
    assert data[lc.DATA_MODEL_OUTPUT] == ("The answer is B because Let's think step by step. "
                                          "(B) is plain.")
    assert data[lc.DATA_ANSWER_OPTIONS] == [{"value": f"(A) {first.meta['options'][0]}"},
                                            {"value": f"(B) {first.meta['options'][1]}"}]
    result = runner.invoke(app, ["annotate", "tasks", str(chains), "--task", "strategyqa",
                                 "--out", str(tmp_path / "u.json")])
    assert result.exit_code == 1
    assert "of task 'bbh_snarks', not 'strategyqa' (--task)" in result.output
    assert not (tmp_path / "u.json").exists()


@pytest.mark.parametrize("which", ["bigbench_file", "bbh"])
def test_spec_to_report_and_label_studio_files(which, tmp_path, bigbench_tasks, ls_client,
                                               project_title):
    spec = (bigbench_spec(tmp_path, bigbench_tasks) if which == "bigbench_file"
            else BBH / "snarks.yaml")
    name = get_task(str(spec)).name
    rhf("data", "check", "--task", spec, "--k", "2")
    chains = tmp_path / "chains.jsonl"
    rhf("chains", "generate", "--model", TINY_BASE, "--task", spec, "--split", "train",
        "--limit", "2", "--k", "2", "--out", chains)
    said = rhf("eval", "--methods", "cot", "--model", TINY_BASE, "--base-model", TINY_BASE,
        "--tasks", spec, "--k", "2", "--limit", "2", "--no-calibration", "--no-plots",
        "--no-selective-dev", "--out", tmp_path / "eval")
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    (run,) = report["runs"]
    assert (run["task"], run["method"], run["n_examples"]) == (name, "cot", 2)
    preds = (tmp_path / "eval" / run["predictions"]).read_text().splitlines()
    dev = split_examples(name, "dev")[:2]
    assert [json.loads(p)["example_id"] for p in preds] == [e.id for e in dev]
    lost = sum("shots_dropped" in json.loads(p)["meta"] for p in preds)
    # BBH's snarks shots are long: with 2 of them neither prompt fits the tiny base's 512
    # tokens, so each keeps one whole shot; navigate's fit
    assert run["prompts_lost_shots"] == lost == (2 if which == "bbh" else 0)
    if lost:  # said once, with the counts
        assert said.count(f"[cot] {name}: {lost} of 2 prompts exceed") == 1

    rhf("annotate", "config", "--task", spec, "--out", tmp_path / "config.xml")
    rhf("annotate", "tasks", chains, "--task", spec, "--out", tmp_path / "tasks.json")
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    written = [json.loads(line) for line in chains.read_text().splitlines()]
    # navigate has hundreds of train questions; the 6-question snarks fixture has one
    assert len(tasks) == len(written) == (2 if which == "bigbench_file" else 1)
    project = ls_client.create_project(project_title, (tmp_path / "config.xml").read_text())
    body = ls_client.request("POST", f"/api/projects/{project['id']}/import", json=tasks)
    assert body["task_count"] == len(tasks)
    imported = [t["data"] for t in ls_client.iter_tasks(project["id"])]
    assert sorted(d["chain_id"] for d in imported) == sorted(c["id"] for c in written)
    train = {e.id: e.question for e in split_examples(name, "train")}
    assert all(d[lc.DATA_QUESTION] == train[d["rhf"]["example"]["id"]] for d in imported)
