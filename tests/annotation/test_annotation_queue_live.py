"""Against a real Label Studio: the queue order (uncertainty, random) is the order Label Studio
serves; gold chains are mixed in; --overlap sets annotators per task; `rhf annotate report`."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotation.client import LabelStudioClient
from annotation.convert import feedback_from_annotation
from annotation.simulate import _sports_vocab, simulated_result
from annotation.tasks import build_tasks
from rhf_cli import app

pytestmark = pytest.mark.labelstudio
ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str]):
    res = CliRunner().invoke(app, ["annotate", *args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


def _write_chains(tmp_path, chains, examples):
    path, ex = tmp_path / "chains.jsonl", tmp_path / "examples.jsonl"
    path.write_text("".join(c.model_dump_json() + "\n" for c in chains))
    ex.write_text("".join(e.model_dump_json() + "\n" for e in examples.values()))
    return path, ex


def _served_order(client: LabelStudioClient, pid: int, n: int) -> list[str]:
    """The chain ids Label Studio serves, one after another, as the admin annotates each."""
    from annotation import labeling_config as lc

    served = []
    for _ in range(n):
        task = client.next_task(pid)
        served.append(task["data"]["chain_id"])
        client.create_annotation(task["id"], [lc.result_item(lc.ERROR_TYPES, ["None"])])
    return served


@pytest.mark.parametrize("order", ["uncertainty", "random"])
def test_label_studio_serves_the_pushed_order(ls_env, project_title, tmp_path, chains, examples,
                                              order):
    chains_path, examples_path = _write_chains(tmp_path, chains, examples)
    p = [0.9, 0.45, 0.7, 0.05, 0.52]  # |p - .5|: .4, .05, .2, .45, .02
    scores = tmp_path / "scores.jsonl"
    scores.write_text("".join(json.dumps({"chain_id": c.id, "p_no_error": x}) + "\n"
                              for c, x in zip(chains, p, strict=True)))
    _run(["setup", "--project", project_title])
    extra = ["--scores", str(scores)] if order == "uncertainty" else ["--seed", "5"]
    out = _run(["push", str(chains_path), "--examples", str(examples_path), "--order", order,
                *extra, "--project", project_title])
    assert "pushed 5 tasks" in out
    if order == "uncertainty":
        expected = [chains[k].id for k in (4, 1, 2, 0, 3)]
    else:
        shuffled = list(chains)
        random.Random(5).shuffle(shuffled)
        expected = [c.id for c in shuffled]
        assert expected != [c.id for c in chains]
    with LabelStudioClient(ls_env.url, ls_env.token) as client:
        pid = client.find_project(project_title)["id"]
        assert _served_order(client, pid, 5) == expected


def test_label_studio_serves_the_order_of_the_model_scores(ls_env, project_title, tmp_path,
                                                           chains, examples):
    """--model: the shipped base scores the chains (through rhf_cli's critic); Label Studio
    serves them in the order of P(no error) computed straight from the model."""
    from annotation.queue import order_chains
    from feedback_data.text.critic_labels import ERROR_LABELS, label_probabilities
    from feedback_data.text.instructions import error_types_prompt
    from inference.backends import Backend

    model = str(ROOT / "models" / "tiny-base")
    rows = Backend.load(model, device="cpu").score_choices(
        [error_types_prompt(c.question, c.text) for c in chains], list(ERROR_LABELS))
    p = {c.id: label_probabilities(row)[0] for c, row in zip(chains, rows, strict=True)}
    expected = [c.id for c in order_chains(chains, "uncertainty", scores=p)]
    assert expected != [c.id for c in chains]  # the model's order is not the given one

    chains_path, examples_path = _write_chains(tmp_path, chains, examples)
    _run(["setup", "--project", project_title])
    out = _run(["push", str(chains_path), "--examples", str(examples_path), "--order",
                "uncertainty", "--model", model, "--score-batch-size", "2", "--project",
                project_title])
    assert "pushed 5 tasks" in out
    with LabelStudioClient(ls_env.url, ls_env.token) as client:
        pid = client.find_project(project_title)["id"]
        assert _served_order(client, pid, 5) == expected


def test_gold_overlap_and_report(ls_env, project_title, tmp_path, chains, examples):
    regular, gold_chains = chains[:3], chains[3:]
    chains_path, examples_path = _write_chains(tmp_path, regular, examples)
    # Gold labels: what a careful annotator (the noiseless bot) would say on those chains.
    gold_items = []
    for k, chain in enumerate(gold_chains):
        data = build_tasks([chain], examples)[0]
        result = simulated_result(examples[chain.example_id], chain, random.Random(0),
                                  vocab=_sports_vocab())
        ann = {"id": 900 + k, "project": 1, "completed_by": 1, "updated_at": "t",
               "result": result}
        gold_items.append(feedback_from_annotation(ann, {"id": 800 + k, "data": data}, {}))
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(i.model_dump_json() + "\n" for i in gold_items))

    assert "2 annotator(s) per task" in _run(["setup", "--overlap", "2", "--project",
                                              project_title])
    out = _run(["push", str(chains_path), "--examples", str(examples_path), "--gold", str(gold),
                "--gold-rate", "0.4", "--project", project_title])
    assert "pushed 5 tasks" in out  # 3 regular + round(.4 * 3 / .6) = 2 gold
    with LabelStudioClient(ls_env.url, ls_env.token) as client:
        project = client.find_project(project_title)
        assert project["maximum_annotations"] == 2
        served = [t["data"]["chain_id"] for t in client.iter_tasks(project["id"])]
    assert sorted(served) == sorted(c.id for c in chains)
    assert [c for c in served if c in {r.id for r in regular}] == [c.id for c in regular]
    for task_data in served:  # gold tasks carry nothing that tells them apart
        assert "gold" not in task_data

    _run(["simulate", "--annotators", "2", "--project", project_title])
    report = tmp_path / "report.json"
    text = _run(["report", "--gold", str(gold), "--json", str(report), "--project",
                 project_title])
    figures = json.loads(report.read_text())
    rows = {r["annotator"]: r for r in figures["annotators"]}
    assert len(rows) == 2
    for row in rows.values():
        assert (row["n_tasks"], row["n_gold"]) == (5, 2)
        assert row["gold_has_error_accuracy"] == 1.0 and row["gold_types_exact"] == 1.0
        assert row["gold_first_wrong_step_accuracy"] == 1.0
    assert figures["overlap_chains"] == 5 and figures["agreement"]["n_chains"] == 5
    assert "5 chains, 2 annotators" in text and "agreement per field:" in text
