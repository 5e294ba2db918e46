"""The ML backend's pre-annotation (pure part): error types, first wrong step, model version;
and the converter's record of what the annotator kept from it."""

from __future__ import annotations

import pytest

from annotation import labeling_config as lc
from annotation.convert import feedback_from_annotation
from annotation.tasks import build_tasks
from feedback_data.records.labeling_tags import first_step_mentioned
from inference.ml_backend import TaskError, prediction, task_inputs


@pytest.mark.parametrize(("text", "n", "step"), [
    ("Step 2 names the wrong gulf; step 1 is fine.", 3, 2),
    ("In step 7 and STEP 1 ...", 3, 1),  # 7 is not a step of this chain
    ("no step named", 3, None),
    ("", 3, None),
])
def test_first_step_mentioned(text, n, step):
    assert first_step_mentioned(text, n) == step


def test_prediction_prefills_types_and_first_wrong_step():
    pred = prediction(["FE", "MF"], "Step 2: the gulf is wrong.", 3, "final@1234")
    assert pred == {"model_version": "final@1234", "result": [
        lc.result_item(lc.ERROR_TYPES, ["Factual Error", "Missing Facts"]),
        lc.result_item(lc.ERROR_STEPS, ["Step 2"]),
        lc.result_item(lc.step_rating_tag(1), "Wrong")]}
    assert prediction([], None, 3, "v")["result"] == [lc.result_item(lc.ERROR_TYPES, ["None"])]
    assert prediction(None, None, 3, "v") == {"result": [], "model_version": "v"}


def test_task_inputs(chains, examples):
    data = build_tasks(chains[:1], examples)[0]
    assert task_inputs({"data": data}, 0, 1000, 4000) == \
        (chains[0].question, chains[0].text, len(chains[0].steps))
    with pytest.raises(TaskError, match="task 3: data needs 'question' and 'model_output'"):
        task_inputs({"data": {"question": 5}}, 3, 1000, 4000)


def test_pulled_record_says_which_predicted_fields_were_kept(chains, examples):
    data = build_tasks(chains[:1], examples)[0]
    pred = prediction(["FE"], "Step 1 is false.", len(chains[0].steps), "final@v1")
    task = {"id": 4, "project": 1, "data": data, "predictions": [{"id": 9, **pred}]}
    kept_types = [lc.result_item(lc.ERROR_TYPES, ["Factual Error"]),
                  lc.result_item(lc.ERROR_STEPS, ["Step 2"]),
                  *lc.rating_items(["correct", "wrong"][:len(chains[0].steps)])]
    ann = {"id": 5, "project": 1, "completed_by": 1, "updated_at": "t", "parent_prediction": 9,
           "result": kept_types}
    fb = feedback_from_annotation(ann, task, {}).feedback
    assert fb.prefill.model_version == "final@v1"
    assert (fb.prefill.accepted, fb.prefill.changed) == (["error_types"],
                                                        ["error_steps", "step_ratings"])


def test_a_pre_annotation_never_contradicts_itself_and_a_changed_one_is_flagged(chains,
                                                                                 examples):
    """The prediction ticks the step it rates Wrong, and only that one. Accepted (the other
    steps rated Correct), the record has no step_ratings_disagree; rating that step Correct
    while its tick stays is flagged, and the step export leaves the record out."""
    from annotation.convert import RATINGS_DISAGREE
    from feedback_data.text.step_policy import first_wrong_step

    chain = chains[0]
    n = len(chain.steps)
    data = build_tasks([chain], examples)[0]
    for step in range(1, n + 1):
        pred = prediction(["FE"], f"Step {step} is false.", n, "final@v1")
        by_tag = {r["from_name"]: r["value"]["choices"] for r in pred["result"]}
        rated_wrong = [lc.step_rating_index(t) + 1 for t, v in by_tag.items()
                       if lc.step_rating_index(t) is not None and v == ["Wrong"]]
        assert by_tag[lc.ERROR_STEPS] == [lc.step_choice(s) for s in rated_wrong] == \
            [lc.step_choice(step)]
        task = {"id": 4, "project": 1, "data": data, "predictions": [{"id": 9, **pred}]}
        others = [lc.result_item(lc.step_rating_tag(i), "Correct") for i in range(n)
                  if i != step - 1]
        accepted = {"id": 5, "project": 1, "completed_by": 1, "updated_at": "t",
                    "parent_prediction": 9, "result": [*pred["result"], *others]}
        item = feedback_from_annotation(accepted, task, {})
        assert RATINGS_DISAGREE not in item.feedback.flags
        assert first_wrong_step(item) == (step - 1, None)
        changed = {**accepted, "result": [
            r if r["from_name"] != lc.step_rating_tag(step - 1)
            else lc.result_item(r["from_name"], "Correct") for r in accepted["result"]]}
        item = feedback_from_annotation(changed, task, {})
        assert RATINGS_DISAGREE in item.feedback.flags
        assert first_wrong_step(item) == (None, RATINGS_DISAGREE)
