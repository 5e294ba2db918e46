"""The ML backend's pre-annotation (pure part): error types, first wrong step, model version;
and the converter's record of what the annotator kept from it."""

from __future__ import annotations

import pytest

from annotation.convert import feedback_from_annotation
from annotation.tasks import build_tasks
from feedback_data import labeling_config as lc
from feedback_data.labeling_tags import first_step_mentioned
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
