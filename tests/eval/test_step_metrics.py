"""ProcessBench's first-wrong-step score, worked by hand, and what is not scored."""

from __future__ import annotations

import pytest

from eval.step_metrics import (
    first_wrong_from_scores,
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
    assert "F1, n=6): 60.0" in s.markdown() and "n=4" in s.markdown() and "n=2" in s.markdown()


def test_undefined_parts_are_none_not_zero():
    s = processbench_score([-1, -1], [-1, 1])
    assert (s.error_accuracy, s.correct_accuracy, s.f1) == (None, 0.5, None)
    assert "F1 is undefined" in s.note and "n/a" in s.markdown()
    assert processbench_score([1], [0]).f1 is None
    assert processbench_score([0, -1], [1, 0]).f1 == 0.0
    with pytest.raises(ValueError, match="2 labels but 1"):
        processbench_score([0, 1], [0])


def test_records_without_step_labels_are_counted_not_invented():
    items = [item("a", chain=THREE, error_steps=[2]), no_error("b"), item("c"), item("d"),
             item("e", chain=THREE, reasons={"FE": "In step 3, cows eat more."})]
    s = score_items(items, [1, -1, 0, -1, 1])
    # c and d describe errors but name no step: left out, whatever was predicted for them;
    # e's description names step 3 (index 2): a label, and the prediction 1 misses it
    assert (s.n, s.n_error, s.n_correct) == (3, 2, 1)
    assert (s.error_accuracy, s.correct_accuracy) == (0.5, 1.0)
    assert dict(s.unscored) == {"errors_without_step:description_without_step": 2}
    assert dict(s.label_sources) == {"error_steps": 1, "no_error": 1, "descriptions": 1}
    md = s.markdown()
    assert "labels from descriptions: 1, error_steps: 1, no_error: 1" in md
    assert "not scored: errors_without_step:description_without_step: 2" in md
    only_unlabelled = score_items([item("c")], [0])
    assert only_unlabelled.n == 0 and "no record has step labels" in only_unlabelled.note


def test_calibration_records_get_step_labels_from_their_descriptions():
    """The paper's 173 calibration records carry no step field; their error descriptions
    label most erroneous ones (129 of 146 with this parser), so the F1 is defined."""
    from feedback_data.sources.splits import calibration_items

    items = calibration_items()
    s = score_items(items, [-1] * len(items))
    n_clean = sum(not i.feedback.error_types for i in items)
    assert (s.n_correct, s.n_error) == (n_clean, 129) and n_clean == 27
    assert s.label_sources == {"no_error": 27, "descriptions": 129}
    assert (s.error_accuracy, s.correct_accuracy, s.f1) == (0.0, 1.0, 0.0)
    assert sum(s.unscored.values()) == len(items) - 27 - 129


def test_predictions_from_text_and_scores():
    assert first_wrong_from_scores([0.9, 0.9]) == -1
    assert first_wrong_from_scores([0.4, 0.9]) == 0
    assert first_wrong_from_scores([0.9, 0.6], threshold=0.7) == 1


@pytest.mark.usefixtures("real_data")
def test_description_model_as_step_critic_on_the_calibration_records():
    from eval.step_metrics import description_step_critic
    from feedback_data.sources.splits import calibration_items
    from feedback_data.text.instructions import DESCRIPTION_INSTRUCTION
    from feedback_data.text.step_policy import step_label
    from inference.toy_models import ScriptedGenerator

    items = calibration_items()[:40]
    labels = [step_label(i).first_wrong for i in items]
    head = DESCRIPTION_INSTRUCTION.split("\n")[0]
    asked: list[str] = []

    def says(prompt: str, _j: int) -> str:
        # right on every labelled chain: "no error" for the clean ones, the labelled step for
        # the others; for unlabelled ones a step the chain does not have
        asked.append(prompt)
        k = next(k for k, i in enumerate(items) if i.chain.text in prompt)
        y = labels[k]
        if y == -1:
            return "no error"
        if y is None:
            return "Factual Error: In step 99, x."
        return f"Factual Error: In step {y + 1}, the fact is wrong."

    score, preds = description_step_critic(ScriptedGenerator(says), items)
    assert all(p.startswith(head) for p in asked) and len(asked) == len(items)
    assert preds == [y for y in labels]  # None exactly where unlabelled (step 99)
    assert score.n == sum(y is not None for y in labels)
    assert score.n_error == sum(y is not None and y >= 0 for y in labels) > 0
    assert score.n_correct == labels.count(-1) > 0
    assert score.f1 == 1.0 and score.label_sources["descriptions"] == score.n_error
    assert f"n={score.n_error}" in score.markdown()
