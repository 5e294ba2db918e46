"""The annotation side of a task that is not yes/no: the task data and interface fit its
answer type, the answer area's answer is the correction's, and an unlabelled question takes
its answer from the annotator's correction (pure, and once through the real Label Studio)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotation import labeling_config as lc
from annotation.convert import ANSWER_UNREADABLE, feedback_from_annotation
from annotation.tasks import task_data, validate_task_data
from feedback_data.records.schema import Chain, Example, make_chain_id
from feedback_data.tasks.data import split_examples
from feedback_data.tasks.registry import TASKS, get_task
from feedback_data.text.answers import parse_answer_chain

R = lc.result_item


@pytest.fixture()
def colours(tmp_path: Path):
    rows = [{"id": "c1", "question": "Which colour is the sky?",
             "options": ["red", "green", "blue"], "answer": "blue"},
            {"id": "c2", "question": "Which colour is grass?", "options": ["red", "green"]}]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "t.yaml").write_text("name: colours\nloader: {jsonl: q.jsonl}\n"
                                     "answer: {type: multiple_choice}\nshots: {from: none}\n")
    spec = get_task(str(tmp_path / "t.yaml"))
    yield spec, tmp_path / "t.yaml"
    TASKS.unregister("colours")


def chain_for(example: Example, text: str) -> Chain:
    answer, steps, parsed = parse_answer_chain(text, example)
    return Chain(id=make_chain_id(example.id, "m", "p"), example_id=example.id,
                 task=example.task, question=example.question, model="m", prompt_id="p",
                 text=text, answer=answer, steps=steps, parsed=parsed)


def annotate(example: Example, chain: Chain, result: list[dict]):
    task = {"id": 7, "project": 3, "data": task_data(chain, example)}
    annotation = {"id": 11, "result": result, "completed_by": 1,
                  "updated_at": "2026-01-01T00:00:00Z"}
    return feedback_from_annotation(annotation, task, {1: "ann@example.org"})


def test_task_data_and_interface_fit_the_answer_type(colours):
    spec, _ = colours
    sky, grass = split_examples(spec, "all")
    chain = chain_for(sky, "The answer is red because it is red. Look up.")
    data = task_data(chain, sky)
    assert data[lc.DATA_ANSWER_OPTIONS] == [{"value": "(A) red"}, {"value": "(B) green"},
                                            {"value": "(C) blue"}]
    assert data[lc.DATA_MODEL_OUTPUT] == "The answer is A because it is red. Look up."
    assert validate_task_data(data, "t") == (sky, chain)
    config = lc.labeling_config("multiple_choice")
    assert f'name="{lc.ANSWER_CHOICE}"' in config and 'value="$answer_options"' in config
    free = lc.labeling_config("free_form")
    assert f'name="{lc.ANSWER_TEXT}"' in free and 'value="$model_answer"' in free
    assert lc.ANSWER_CHOICE not in lc.labeling_config() and lc.ANSWER_TEXT not in (
        lc.labeling_config())
    strategy = Example(id="strategyqa/x", task="strategyqa", question="Q?", answer="yes")
    yes_no = task_data(chain_for(strategy, "The answer is no because a."), strategy)
    assert not set(yes_no) & {lc.DATA_ANSWER_OPTIONS, lc.DATA_MODEL_ANSWER}


def test_the_answer_area_is_the_corrections_answer(colours):
    spec, _ = colours
    sky, grass = split_examples(spec, "all")
    chain = chain_for(sky, "The answer is red because it is red. Look up.")
    item = annotate(sky, chain, [R(lc.ANSWER_CHOICE, ["(C) blue"]),
                                 R(lc.CORRECTION, "The answer is A because the sky is blue."),
                                 R(lc.ERROR_TYPES, ["Factual Error"]),
                                 R(lc.REASONS["FE"], "Step 1: it is blue.")])
    corr = item.feedback.correction
    assert (corr.answer, corr.text) == ("C", "The answer is C because the sky is blue.")
    kept = [r for r in item.feedback.raw["result"] if r["from_name"] == lc.CORRECTION]
    assert kept[0]["value"]["text"] == ["The answer is A because the sky is blue."]
    assert "correction_contradicts_gold" not in item.feedback.flags

    # an unlabelled question: the correction supplies the example's answer
    chain = chain_for(grass, "The answer is B because grass is green.")
    item = annotate(grass, chain, [R(lc.ANSWER_CHOICE, ["(B) green"]),
                                   R(lc.CORRECTION, chain.text), R(lc.ERROR_TYPES, ["None"])])
    assert grass.answer is None
    assert (item.example.answer, item.example.meta["answer_from"]) == ("B", "correction")


def test_a_free_form_answer_box_is_normalized(tmp_path):
    (tmp_path / "q.jsonl").write_text('{"question": "How many legs has a cat?", "answer": 4}\n')
    (tmp_path / "t.yaml").write_text("name: legs\nloader: {jsonl: q.jsonl}\n"
                                     "answer: {type: free_form, normalizer: number}\n")
    spec = get_task(str(tmp_path / "t.yaml"))
    try:
        (cat,) = split_examples(spec, "all")
        chain = chain_for(cat, "The answer is 3 because cats have three legs.")
        assert task_data(chain, cat)[lc.DATA_MODEL_ANSWER] == "3"
        item = annotate(cat, chain, [R(lc.ANSWER_TEXT, "four"), R(lc.CORRECTION, chain.text),
                                     R(lc.ERROR_TYPES, ["Factual Error"]),
                                     R(lc.REASONS["FE"], "Cats have four legs.")])
        assert item.feedback.correction.answer == "4"
        assert item.feedback.correction.text == "The answer is 4 because cats have three legs."
        item = annotate(cat, chain, [R(lc.ANSWER_TEXT, "lots"), R(lc.CORRECTION, chain.text),
                                     R(lc.ERROR_TYPES, ["None"])])
        assert ANSWER_UNREADABLE in item.feedback.flags and item.feedback.correction.answer == "3"
    finally:
        TASKS.unregister("legs")


@pytest.mark.labelstudio
def test_unlabelled_questions_through_the_real_server(colours, ls_env, project_title,
                                                      tmp_path):
    from typer.testing import CliRunner

    from feedback_data.records.jsonl import read_records, write_records
    from feedback_data.records.schema import FeedbackItem
    from rhf_cli import app

    runner = CliRunner()
    spec, spec_file = colours
    _, grass = split_examples(spec, "all")
    chains = tmp_path / "chains.jsonl"
    write_records(chains, [chain_for(grass, "The answer is A because grass is red.")])
    for args in (["setup", "--task", str(spec_file)],
                 ["push", str(chains), "--task", str(spec_file)]):
        result = runner.invoke(app, ["annotate", *args, "--project", project_title])
        assert result.exit_code == 0, result.output
    from annotation.client import LabelStudioClient

    with LabelStudioClient(ls_env.url, ls_env.token) as client:
        pid = client.find_project(project_title)["id"]
        (task,) = list(client.iter_tasks(pid))
        assert task["data"][lc.DATA_ANSWER_OPTIONS][1] == {"value": "(B) green"}
        client.create_annotation(task["id"], [
            R(lc.ANSWER_CHOICE, ["(B) green"]),
            R(lc.CORRECTION, "The answer is B because grass is green."),
            R(lc.ERROR_TYPES, ["Factual Error"]), R(lc.REASONS["FE"], "Step 1 is false.")])
    pulled = tmp_path / "feedback.jsonl"
    result = runner.invoke(app, ["annotate", "pull", str(pulled), "--project", project_title])
    assert result.exit_code == 0, result.output
    (item,) = read_records(pulled, FeedbackItem)
    assert item.example.answer == item.feedback.correction.answer == "B"
    assert item.feedback.error_types == ["FE"]


def test_the_webhook_stores_a_multiple_choice_annotation(colours, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from annotation.campaign import SECRET_HEADER
    from annotation.webhook import WEBHOOK_PATH
    from feedback_data.records.store import FeedbackStore
    from pipeline.serve import create_app

    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    spec, _ = colours
    sky, _ = split_examples(spec, "all")
    chain = chain_for(sky, "The answer is A because red.")
    body = {"action": "ANNOTATION_CREATED", "project": {"id": 2},
            "task": {"id": 5, "project": 2, "data": task_data(chain, sky)},
            "annotation": {"id": 9, "project": 2, "completed_by": 1, "was_cancelled": False,
                           "updated_at": "2026-01-01T00:00:00Z",
                           "result": [R(lc.ANSWER_CHOICE, ["(C) blue"]),
                                      R(lc.CORRECTION, chain.text),
                                      R(lc.ERROR_TYPES, ["Factual Error"]),
                                      R(lc.REASONS["FE"], "Step 1: the sky is blue.")]}}
    store = tmp_path / "store.jsonl"
    client = TestClient(create_app(feedback_store=store, webhook_secret="s"))
    assert client.post(WEBHOOK_PATH, json=body, headers={SECRET_HEADER: "s"}).status_code == 200
    (item,) = FeedbackStore(store).read()
    assert item.feedback.correction.answer == "C" and item.example.answer == "C"
    assert item.feedback.correction.text == "The answer is C because red."
