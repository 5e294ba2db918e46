"""Labeling config, task building, adjudication and the simulator: no server needed."""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET

import pytest

from annotation import labeling_config as lc
from annotation.adjudicate import MAJORITY_FLAG, REVIEWER_FLAG, adjudicate
from annotation.convert import feedback_from_annotation
from annotation.simulate import simulated_result
from annotation.tasks import build_tasks, chain_display, read_chains, validate_task_data
from feedback_data.errors import DataError
from feedback_data.records.schema import ERROR_NAMES


@pytest.mark.parametrize("answer_type", ["multiple_choice", "free_form"])
def test_each_answer_type_declares_its_answer_area_once(answer_type):
    root = ET.fromstring(lc.labeling_config(answer_type))
    names = [el.get("name") for el in root.iter() if el.get("name")]
    others = set(lc.ANSWER_TAG.values()) - {lc.ANSWER_TAG[answer_type]}
    assert names.count(lc.ANSWER_TAG[answer_type]) == 1 and not others & set(names)
    yes_no = {el.get("name") for el in ET.fromstring(lc.labeling_config()).iter()
              if el.get("name")}
    assert set(names) == yes_no | {lc.ANSWER_TAG[answer_type]}


def test_config_declares_every_tag_once():
    root = ET.fromstring(lc.labeling_config())
    names = [el.get("name") for el in root.iter() if el.get("name")]
    step_text, step_rating = lc.STEP_TEXT_PREFIX + "{{idx}}", lc.step_rating_tag(0)[:-1] + "{{idx}}"
    yes_no_tags = lc.RESULT_TAGS - set(lc.ANSWER_TAG.values())  # yes/no: no answer area
    assert sorted(names) == sorted({lc.QUESTION, lc.CHAIN, *yes_no_tags, step_text, step_rating})
    controls = {el.get("name"): el for el in root.iter() if el.get("toName")}
    assert {n: el.get("toName") for n, el in controls.items()} == \
        {**{t: n for t, n in lc.TO_NAME.items() if t in yes_no_tags}, step_rating: step_text}
    types = controls[lc.ERROR_TYPES]
    assert [c.get("value") for c in types] == list(lc.ERROR_CHOICES)
    assert types.get("choice") == "multiple" and types.get("required") == "true"
    assert [c.get("hint") for c in types][:4] == [
        "Factual Error: a step states something false", "Missing Facts: a needed fact is absent",
        "Irrelevant Facts: a step does not bear on the question",
        "Logical Inconsistency: a step does not follow"]
    rating = controls[step_rating]
    assert [c.get("value") for c in rating] == ["Correct", "Neutral", "Wrong", "Can't judge"]
    assert rating.get("choice") == "single-radio" and rating.get("required") == "true"
    # Each description box sits in a view shown only while its type is ticked.
    for view in root.iter("View"):
        areas = [el.get("name") for el in view if el.tag == "TextArea"]
        if any(a in lc.REASONS.values() for a in areas):
            (area,) = areas
            code = area.removeprefix(lc.REASON_PREFIX)
            assert (view.get("visibleWhen"), view.get("whenTagName"), view.get("whenChoiceValue")) \
                == ("choice-selected", lc.ERROR_TYPES, ERROR_NAMES[code])
    # No section is numbered (the chain's steps are).
    assert not [h.get("value") for h in root.iter("Header") if h.get("value")[0].isdigit()]
    assert controls[lc.CORRECTION].get("value") == "$" + lc.DATA_MODEL_OUTPUT
    assert controls[lc.ERROR_STEPS].get("value") == "$" + lc.DATA_STEP_CHOICES


def test_task_data_round_trips_example_and_chain(chains, examples):
    tasks = build_tasks(chains, examples)
    assert len(tasks) == len(chains)
    for data, chain in zip(tasks, chains, strict=True):
        example, back = validate_task_data(data, "t")
        assert back == chain and example == examples[chain.example_id]
        assert [c["value"] for c in data[lc.DATA_STEP_CHOICES]] == \
            [lc.step_choice(i + 1) for i in range(len(chain.steps))]
        lines = chain_display(chain).splitlines()
        assert lines[1:] == [f"Step {i}: {s}" for i, s in enumerate(chain.steps, start=1)]
        assert [s["text"] for s in data[lc.DATA_STEPS]] == lines[1:]


def test_unknown_example_rejected(chains):
    with pytest.raises(DataError, match=chains[0].id):
        build_tasks(chains, {})


def test_chain_missing_fields_rejected(tmp_path, chains):
    bad = chains[0].model_dump(mode="json")
    del bad["steps"]
    path = tmp_path / "chains.jsonl"
    path.write_text(chains[1].model_dump_json() + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DataError, match=r"chains.jsonl:2: field 'steps'"):
        read_chains(path)


def test_adjudicate_majority_of_three(make_item):
    items = [make_item("c1", "a", ["FE"], [1], "The answer is no because x.", "2024-01-01"),
             make_item("c1", "b", ["FE", "MF"], [1, 2], "The answer is no because y.",
                       "2024-01-02"),
             make_item("c1", "c", ["MF"], [2], "The answer is no because z.", "2024-01-03"),
             make_item("c2", "a", ["LI"], [1], "The answer is no because w."),
             make_item("c2", "b", ["LI"], [1], "The answer is no because w.")]
    (out,) = adjudicate(items)  # c2 agrees: no record
    fb = out.feedback
    assert out.chain.id == "c1"
    assert fb.error_types == ["FE", "MF"] and fb.error_steps == [1, 2]
    assert fb.correction.text == "The answer is no because y."  # b matched the majority
    assert fb.flags == [MAJORITY_FLAG] and fb.time == "2024-01-03"
    assert fb.raw["from"] == ["c1/a", "c1/b", "c1/c"]


def test_adjudicate_reviewer_wins(make_item):
    items = [make_item("c1", "a", ["FE"], [1], "The answer is no because x."),
             make_item("c1", "boss", [], [], "The answer is no because y.")]
    (out,) = adjudicate(items, reviewer="boss")
    assert out.feedback.error_types == [] and out.feedback.annotator == "reviewer:boss"
    assert REVIEWER_FLAG in out.feedback.flags
    (two,) = adjudicate(items)  # no reviewer: strict majority of two keeps only shared types
    assert two.feedback.error_types == []


def test_adjudication_of_bots_stays_simulated(make_item):
    items = [make_item("c1", "a", ["FE"], [1], "x", source="simulated"),
             make_item("c1", "b", [], [], "x", source="simulated")]
    assert adjudicate(items)[0].feedback.source == "simulated"


def test_simulated_annotation_converts_to_simulated_feedback(chains, examples):
    wrong = next(c for c in chains if c.answer != examples[c.example_id].answer)
    example = examples[wrong.example_id]
    result = simulated_result(example, wrong, random.Random(0))
    task = {"id": 7, "data": build_tasks([wrong], examples)[0]}
    item = feedback_from_annotation({"id": 9, "project": 1, "result": result,
                                     "completed_by": 3, "updated_at": "t"}, task, {3: "h@x"})
    fb = item.feedback
    assert fb.source == "simulated"  # from the hidden origin field, whatever the user
    assert fb.correction.answer == example.answer
    assert fb.error_types and fb.error_steps
    assert set(fb.reasons) == set(fb.error_types)
    names = {r["from_name"]: r["value"] for r in result}
    assert names[lc.ERROR_TYPES]["choices"] == [ERROR_NAMES[t] for t in fb.error_types]
