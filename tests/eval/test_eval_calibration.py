"""Calibration scoring with a stand-in model, against hand-computed numbers."""

from __future__ import annotations

import math

import pytest

from eval.calibration import LABELS, calibrate, read_label
from feedback_data.sources.splits import calibration_items
from feedback_data.text.critic_labels import no_error_probability
from inference.toy_models import ScriptedGenerator


class StandIn(ScriptedGenerator):
    """Says 'no error' with P = 0.8 to every other prompt, names an error (P 0.2) otherwise."""

    def __init__(self) -> None:
        self.count = 0
        super().__init__(self._respond)

    def _respond(self, prompt: str, _j: int) -> str:
        self.count += 1
        return "no error" if self.count % 2 == 1 else "factual error"

    def score_choices(self, prompts, choices, batch_size=None):
        rows = []
        for i, _ in enumerate(prompts):
            p = 0.8 if i % 2 == 0 else 0.2
            rest = (1 - p) / (len(choices) - 1)
            rows.append([math.log(p)] + [math.log(rest)] * (len(choices) - 1))
        return rows


def test_softmax_and_labels() -> None:
    assert LABELS[0] == "no error" and len(LABELS) == 16
    assert no_error_probability([math.log(0.8), math.log(0.1), math.log(0.1)]) == \
        pytest.approx(0.8)
    assert read_label("no error") is True
    assert read_label("missing facts, factual error") is False
    assert read_label("The answer is yes") is None


@pytest.mark.usefixtures("real_data")
def test_calibrate_hand_computed() -> None:
    items = calibration_items()[:8]
    gold = [not i.feedback.error_types for i in items]
    result = calibrate(StandIn(), items)
    predicted = [i % 2 == 0 for i in range(8)]  # no error, error, no error, ...
    expected = sum(p == g for p, g in zip(predicted, gold, strict=True)) / 8
    assert result["n"] == 8 and result["accuracy"] == pytest.approx(expected)
    assert [r["p_no_error"] for r in result["records"]] == pytest.approx([0.8, 0.2] * 4)
    # ECE over the two occupied bins: |freq - 0.8| * 4/8 + |freq - 0.2| * 4/8
    even = sum(gold[0::2]) / 4
    odd = sum(gold[1::2]) / 4
    assert result["ece"] == pytest.approx(abs(even - 0.8) / 2 + abs(odd - 0.2) / 2)


@pytest.mark.usefixtures("real_data")
def test_icl_shots_come_from_training_and_every_record_is_scored() -> None:
    items = calibration_items()[:12]
    result = calibrate(StandIn(), items, icl=True)
    # Both rows score the same records: all 12, none left out for the prompt.
    assert result["n"] == 12 and [r["feedback_id"] for r in result["records"]] == [
        i.feedback.id for i in items]
    assert len(result["shots"]) == 4
    assert all(s.startswith("paper/strategyqa/train/") for s in result["shots"])
    assert result["shots_source"] == "strategyqa train feedback"
    # A shot that is also a scored record is refused.
    with pytest.raises(ValueError, match="ICL shot is also a scored record"):
        calibrate(StandIn(), items, icl=True, shots=items[:2])


@pytest.mark.usefixtures("real_data")
def test_unreadable_labels_count_as_wrong_and_are_reported() -> None:
    items = calibration_items()[:6]
    gold = [not i.feedback.error_types for i in items]
    # Writes 'no error', then nonsense, alternately: records 1, 3, 5 unreadable (wrong).
    gen = StandIn()
    written = ["no error", "???"] * 3
    gen.respond = lambda prompt, _j: written[[i.chain.text in prompt for i in items].index(True)]
    result = calibrate(gen, items)
    assert result["unreadable"] == 3
    assert result["accuracy"] == pytest.approx(sum(gold[0::2]) / 6)


@pytest.mark.usefixtures("real_data")
def test_calibration_cis_bracket_their_estimates() -> None:
    items = calibration_items()[:40]
    result = calibrate(StandIn(), items, bootstrap=200, bootstrap_seed=1)
    lo, hi = result["accuracy_ci"]
    assert lo <= result["accuracy"] <= hi and lo < hi
    assert result["bootstrap"] == {"b": 200, "seed": 1, "method": "percentile"}
    again = calibrate(StandIn(), items, bootstrap=200, bootstrap_seed=1)
    assert again["accuracy_ci"] == result["accuracy_ci"]
    assert again["auroc_ci"] == result["auroc_ci"]
