"""k-shot CoT prompts: exact layout, shots from train only, compact, parseable."""

from __future__ import annotations

import pytest

from feedback_data.records.schema import Example
from feedback_data.sources.bigbench import normalize_question
from feedback_data.sources.splits import calibration_items, dev_examples
from feedback_data.tasks.prompts import (
    cot_prompt,
    default_shots,
    detection_prompt,
    detection_shots,
    prompt_id,
    shot_text,
)
from feedback_data.text.chain_format import parse_chain


def test_cot_prompt_layout() -> None:
    shot = Example(id="s", task="strategyqa", question="Is ice cold?", answer="yes",
                   explanation="Ice is frozen water. Frozen water is cold.")
    assert cot_prompt("strategyqa", "Is fire hot?", [shot, shot]) == (
        "Q: Is ice cold?\nA: The answer is yes because Ice is frozen water. Frozen water is cold."
        "\n\nQ: Is ice cold?\nA: The answer is yes because Ice is frozen water. Frozen water is "
        "cold.\n\nQ: Is fire hot?\nA:")
    with pytest.raises(ValueError, match="unknown task"):
        cot_prompt("nope", "q", [])


@pytest.mark.usefixtures("real_data")
@pytest.mark.parametrize("task", ["strategyqa", "sports_understanding"])
def test_default_shots_come_from_train_and_parse(task: str) -> None:
    shots = default_shots(task, 4)
    assert [s.answer for s in shots] == ["yes", "no", "yes", "no"]
    assert shots == default_shots(task, 4)  # pure and deterministic
    assert default_shots(task, 4, seed=1) != shots
    dev = {normalize_question(task, e.question) for e in dev_examples(task)}
    for s in shots:
        assert normalize_question(task, s.question) not in dev
        answer, steps, parsed = parse_chain(shot_text(s).split("\nA: ", 1)[1])
        assert parsed and answer == s.answer and steps
    assert prompt_id(task, shots) == prompt_id(task, default_shots(task, 4))
    assert len(cot_prompt(task, "Q?", shots)) < 1200


@pytest.mark.usefixtures("real_data")
def test_detection_prompt_uses_label_words_and_leaves_four_out() -> None:
    items = calibration_items()
    shots = detection_shots(items, 4)
    assert len(shots) == 4 and len({s.feedback.id for s in shots}) == 4
    assert [bool(s.feedback.error_types) for s in shots] == [True, False, True, False]
    text = detection_prompt("Is it?", "The answer is no because x.", shots)
    assert "Errors: no error" in text
    assert text.endswith("Question: Is it?\nAnswer: The answer is no because x.\nErrors:")
