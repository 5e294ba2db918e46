"""Against a real Label Studio: setup, push, annotate through the API, pull; CLI errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from annotation import labeling_config as lc
from annotation.campaign import pull_feedback, push_chains, setup_project
from annotation.client import LabelStudioClient, LabelStudioError
from annotation.server import free_port
from annotation.simulate import simulate_annotations
from feedback_data.errors import DataError
from feedback_data.records.jsonl import read_records
from feedback_data.records.schema import Correction, FeedbackItem
from feedback_data.text.chain_format import parse_chain
from rhf_cli import app

pytestmark = pytest.mark.labelstudio
R = lc.result_item


def test_round_trip_records_equal_what_was_submitted(ls_client, project_title, chains, examples):
    pid = setup_project(ls_client, project_title)
    assert setup_project(ls_client, project_title) == pid  # found by title
    report = push_chains(ls_client, pid, chains, examples, batch_size=2, progress=False)
    assert (report.sent, report.already_there) == (len(chains), 0)
    again = push_chains(ls_client, pid, chains, examples, progress=False)
    assert (again.sent, again.already_there) == (0, len(chains))

    alice = ls_client.ensure_user("alice@example.org")
    admin = ls_client.whoami()["email"]
    tasks = {t["data"]["chain_id"]: t["id"] for t in ls_client.iter_tasks(pid)}
    c0, c1 = chains[0], chains[1]
    correction = "The answer is no because Line one.\nLine two."
    submitted = {
        c0.id: [(alice, [R(lc.ERROR_STEPS, ["Step 2", "Step 1"]),
                         R(lc.CORRECTION, correction),
                         R(lc.ERROR_TYPES, ["Missing Facts", "Factual Error"]),
                         R(lc.REASONS["FE"], "Step 1 is wrong."),
                         R(lc.REASONS["MF"], "Step 2 misses a fact."),
                         R(lc.SUBQUESTIONS, "First?\n\nSecond?")]),
                (None, [R(lc.ERROR_TYPES, ["None"]), R(lc.CORRECTION, c0.text)])],
        c1.id: [(alice, [R(lc.ERROR_TYPES, ["None", "Irrelevant Facts"]),
                         R(lc.CORRECTION, c1.text)])],
    }
    ann_ids = {}
    for cid, anns in submitted.items():
        for user, result in anns:
            made = ls_client.create_annotation(tasks[cid], result, completed_by=user)
            ann_ids[made["id"]] = (cid, user, result)
    ls_client.create_annotation(tasks[chains[2].id], [], was_cancelled=True)

    items = pull_feedback(ls_client, pid)
    assert sorted(i.feedback.raw["annotation"] for i in items) == sorted(ann_ids)
    for item in items:
        cid, user, result = ann_ids[item.feedback.raw["annotation"]]
        fields = {r["from_name"]: r["value"] for r in result}
        fb = item.feedback
        assert item.chain == next(c for c in chains if c.id == cid)
        assert item.example == examples[item.chain.example_id]
        assert fb.annotator == ("alice@example.org" if user == alice else admin)
        assert fb.source == "human"
        text = fields[lc.CORRECTION]["text"][0]
        answer, steps, _ = parse_chain(text)
        assert fb.correction == Correction(text=text, answer=answer, steps=steps)
        if cid == c0.id and user == alice:
            assert fb.error_types == ["FE", "MF"] and fb.error_steps == [1, 2]
            assert fb.reasons == {"FE": "Step 1 is wrong.", "MF": "Step 2 misses a fact."}
            assert fb.subquestions == ["First?", "Second?"] and fb.flags == []
        elif cid == c0.id:
            assert fb.error_types == [] and fb.error_steps == [] and fb.flags == []
        else:
            assert fb.error_types == ["IR"] and fb.flags == ["none_with_error_types"]


def test_simulated_annotations_are_marked(ls_client, project_title, chains, examples):
    pid = setup_project(ls_client, project_title)
    push_chains(ls_client, pid, chains, examples, progress=False)
    assert simulate_annotations(ls_client, pid, annotators=2, progress=False) == 2 * len(chains)
    assert simulate_annotations(ls_client, pid, annotators=2, progress=False) == 0
    items = pull_feedback(ls_client, pid)
    assert len(items) == 2 * len(chains)
    assert {i.feedback.source for i in items} == {"simulated"}
    assert {i.feedback.annotator for i in items} == \
        {"rhf-simulator-1@rhf.local", "rhf-simulator-2@rhf.local"}
    for item in items:
        assert item.feedback.correction.answer == item.example.answer


def test_bad_chain_sends_nothing(ls_client, project_title, chains, examples):
    pid = setup_project(ls_client, project_title)
    bad = chains[1].model_copy(update={"steps": []})
    with pytest.raises(DataError, match=bad.id):
        push_chains(ls_client, pid, [chains[0], bad], examples, progress=False)
    assert list(ls_client.iter_tasks(pid)) == []


def test_wrong_token_and_down_server_are_clear_errors(label_studio):
    with LabelStudioClient(label_studio.url, "not-the-token") as client, \
            pytest.raises(LabelStudioError, match="refused the API key"):
        client.whoami()
    with LabelStudioClient(f"http://127.0.0.1:{free_port()}", "x") as client, \
            pytest.raises(LabelStudioError, match="cannot reach Label Studio"):
        client.whoami()


def _run(args: list[str]):
    return CliRunner().invoke(app, args, catch_exceptions=False)


def test_cli_campaign(ls_env, project_title, tmp_path, chains):
    path = tmp_path / "chains.jsonl"
    path.write_text("".join(c.model_dump_json() + "\n" for c in chains))
    common = ["--project", project_title]
    steps = [["setup", *common], ["push", str(path), "--pilot", "3", *common],
             ["push", "--from-paper", "strategyqa", "--pilot", "3", *common],
             ["simulate", "--annotators", "2", "--noise", "0.5", *common],
             ["pull", str(tmp_path / "out.jsonl"), *common],
             ["agreement", str(tmp_path / "out.jsonl")],
             ["adjudicate", str(tmp_path / "adj.jsonl"), "--feedback", str(tmp_path / "out.jsonl")]]
    outputs = []
    for args in steps:
        res = _run(["annotate", *args])
        assert res.exit_code == 0, res.output
        outputs.append(res.output)
    assert ls_env.token not in "".join(outputs)
    pulled = read_records(tmp_path / "out.jsonl", FeedbackItem)
    with LabelStudioClient(ls_env.url, ls_env.token) as client:
        project = client.find_project(project_title)
        tasks = len(list(client.iter_tasks(project["id"])))
    assert tasks >= 3
    assert len(pulled) == 2 * tasks
    assert f"{tasks} chains, 2 annotators" in outputs[5]


@pytest.mark.parametrize("case", ["token", "down"])
def test_cli_user_errors_are_one_line(label_studio, monkeypatch, case):
    url = label_studio.url if case == "token" else f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("LABEL_STUDIO_URL", url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "wrong-token")
    res = _run(["annotate", "setup"])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.output
    assert "wrong-token" not in res.output
