"""ProcessBench's first-wrong-step score, worked by hand, and what is not scored."""

from __future__ import annotations

import pytest

from eval.step_metrics import (
    first_wrong_from_scores,
    first_wrong_from_text,
    processbench_score,
    score_items,
)
from tests.feedback_data.test_trl_formats import item, no_error

THREE = "The answer is no because Ants are small. Birds fly. Cows eat grass."


def test_score_by_hand():
    # erroneous: 4 chains, 3 found exactly (the 4th points one step late) -> 0.75
    # correct: 2 chains, 1 left alone (the other flagged at step 0) -> 0.5
    # F1 = 2 * 0.75 * 0.5 / 1.25 = 0.6
    s = processbench_score([0, 1, 2, 2, -1, -1], [0, 1, 2, 3, -1, 0])
    assert (s.n, s.n_error, s.n_correct) == (6, 4, 2)
    assert (s.error_accuracy, s.correct_accuracy, s.f1) == (0.75, 0.5, pytest.approx(0.6))
    assert "F1): 60.0" in s.markdown() and "n=4" in s.markdown() and "n=2" in s.markdown()


def test_undefined_parts_are_none_not_zero():
    s = processbench_score([-1, -1], [-1, 1])
    assert (s.error_accuracy, s.correct_accuracy, s.f1) == (None, 0.5, None)
    assert "F1 is undefined" in s.note and "n/a" in s.markdown()
    assert processbench_score([1], [0]).f1 is None
    assert processbench_score([0, -1], [1, 0]).f1 == 0.0
    with pytest.raises(ValueError, match="2 labels but 1"):
        processbench_score([0, 1], [0])


def test_records_without_step_labels_are_counted_not_invented():
    items = [item("a", chain=THREE, error_steps=[2]), no_error("b"), item("c"), item("d")]
    s = score_items(items, [1, -1, 0, -1])
    # c and d name error types but no step: left out, whatever was predicted for them
    assert (s.n, s.n_error, s.n_correct, s.f1) == (2, 1, 1, 1.0)
    assert dict(s.unscored) == {"errors_without_step": 2}
    assert "not scored: errors_without_step: 2" in s.markdown()
    only_unlabelled = score_items([item("c")], [0])
    assert only_unlabelled.n == 0 and "no record has step labels" in only_unlabelled.note


def test_calibration_records_have_no_erroneous_step_labels():
    """The paper's 173 calibration records name no step: only the error-free chains get a
    label (-1), so the F1 is undefined there and the report says so."""
    from feedback_data.splits import calibration_items

    items = calibration_items()
    s = score_items(items, [-1] * len(items))
    assert s.n_error == 0 and s.f1 is None
    assert s.n_correct == sum(not i.feedback.error_types for i in items) > 0
    assert s.unscored["errors_without_step"] == len(items) - s.n_correct


def test_predictions_from_text_and_scores():
    assert first_wrong_from_text("Logical Inconsistency: Step 2 contradicts step 1.", 3) == 0
    assert first_wrong_from_text("Factual Error: step 4 is false.", 3) is None
    assert first_wrong_from_text("No error", 3) == -1
    assert first_wrong_from_text("factual error", 3) is None
    assert first_wrong_from_scores([0.9, 0.9]) == -1
    assert first_wrong_from_scores([0.4, 0.9]) == 0
    assert first_wrong_from_scores([0.9, 0.6], threshold=0.7) == 1


@pytest.mark.usefixtures("real_data")
def test_refine_model_as_step_critic_on_the_calibration_records():
    from eval.step_metrics import refine_step_critic
    from feedback_data.splits import calibration_items
    from inference.toy_models import ScriptedGenerator

    items = calibration_items()[:40]
    clean = [i for i in items if not i.feedback.error_types]
    assert clean  # the first 40 records hold error-free chains
    first_clean = clean[0].chain.text
    # Says "no error" for the first error-free chain only, names an error elsewhere.
    gen = ScriptedGenerator(lambda p, _j: "no error ; x" if first_clean in p
                            else "factual error ; x")
    score, preds = refine_step_critic(gen, items)
    assert preds.count(-1) == 1 and preds.count(None) == len(items) - 1
    # Only error-free chains carry a step label (-1) in the paper's records: one of them
    # right, the others wrong; the erroneous ones name no step and are counted, not scored.
    assert score.n_correct == len(clean) and score.n_error == 0
    assert score.correct_accuracy == 1 / len(clean)
    assert score.f1 is None and score.error_accuracy is None
    assert sum(score.unscored.values()) == len(items) - len(clean)
    assert f"n={len(clean)}" in score.markdown()
