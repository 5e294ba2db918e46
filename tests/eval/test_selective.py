"""Selective prediction: risk-coverage points, AURC and coverage at 90% accuracy, worked by
hand, with ties answered together."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from eval.selective import (
    add_selective,
    aurc,
    coverage_at_accuracy,
    dev_selective,
    optimal_aurc,
    risk_coverage,
    selective_summary,
)

# Six chains; two tied groups. Thresholds 0.9, 0.7, 0.2 answer 2, 5 and 6 chains with 1, 2
# and 3 wrong: coverage 1/3, 5/6, 1 and risk 1/2, 2/5, 1/2.
SCORES = [0.9, 0.9, 0.7, 0.7, 0.7, 0.2]
RIGHT = [True, False, True, True, False, False]


def test_points_by_hand_with_ties():
    pts = risk_coverage(SCORES, RIGHT)
    assert [(p.threshold, p.answered, p.wrong) for p in pts] == [(0.9, 2, 1), (0.7, 5, 2),
                                                                 (0.2, 6, 3)]
    assert [p.coverage for p in pts] == pytest.approx([1 / 3, 5 / 6, 1.0])
    assert [p.risk for p in pts] == pytest.approx([1 / 2, 2 / 5, 1 / 2])


def test_aurc_by_hand():
    # (1/3)(1/2) + (5/6 - 1/3)(2/5) + (1 - 5/6)(1/2) = 1/6 + 1/5 + 1/12 = 0.45
    assert aurc(risk_coverage(SCORES, RIGHT)) == pytest.approx(0.45)
    # best order of 3 right and 3 wrong: risks 0, 0, 0, 1/4, 2/5, 1/2 -> 1.15 / 6
    assert optimal_aurc(RIGHT) == pytest.approx(1.15 / 6)
    assert aurc([]) is None and optimal_aurc([]) is None


def test_ties_do_not_depend_on_the_order_of_the_records():
    rng = random.Random(0)
    base = aurc(risk_coverage(SCORES, RIGHT))
    for _ in range(5):
        order = list(range(len(SCORES)))
        rng.shuffle(order)
        shuffled = risk_coverage([SCORES[i] for i in order], [RIGHT[i] for i in order])
        assert aurc(shuffled) == pytest.approx(base)


def test_without_ties_it_is_the_mean_risk_of_the_top_i():
    scores = [0.95, 0.9, 0.8, 0.6, 0.5, 0.1]
    right = [True, False, True, True, False, False]
    # risks of the top 1..6: 0, 1/2, 1/3, 1/4, 2/5, 1/2
    expected = (0 + 1 / 2 + 1 / 3 + 1 / 4 + 2 / 5 + 1 / 2) / 6
    assert aurc(risk_coverage(scores, right)) == pytest.approx(expected)


def test_coverage_at_accuracy():
    # no threshold reaches 90% here (best accuracy 3/5) ...
    assert coverage_at_accuracy(risk_coverage(SCORES, RIGHT), 0.9) is None
    # ... 60% is reached at t = 0.7 (3 of 5 right), 50% everywhere (largest coverage: all)
    at60 = coverage_at_accuracy(risk_coverage(SCORES, RIGHT), 0.6)
    assert (at60.threshold, at60.coverage) == (0.7, pytest.approx(5 / 6))
    assert coverage_at_accuracy(risk_coverage(SCORES, RIGHT), 0.5).coverage == 1.0
    # exactly 90%: 9 of 10 right when all ten are answered (the boundary counts)
    scores = [1 - i / 10 for i in range(10)]
    right = [True] * 8 + [False, True]
    best = coverage_at_accuracy(risk_coverage(scores, right), 0.9)
    assert best.coverage == 1.0 and best.answered - best.wrong == 9
    # a wrong chain ranked first: the first point has 0% accuracy, later ones recover
    best = coverage_at_accuracy(risk_coverage([0.9, 0.8, 0.7], [False, True, True]), 0.6)
    assert best.coverage == 1.0 and best.threshold == 0.7


def test_summary_and_bad_input():
    s = selective_summary(SCORES, RIGHT)
    assert s["n"] == 6 and s["aurc"] == pytest.approx(0.45)
    assert s["risk_at_full_coverage"] == 0.5 and s["coverage_at_target"] == 0.0
    assert s["threshold_at_target"] is None and len(s["points"]) == 3
    assert s["points"][1] == {"threshold": 0.7, "answered": 5, "wrong": 2,
                              "coverage": pytest.approx(5 / 6), "risk": pytest.approx(0.4)}
    empty = selective_summary([], [])
    assert empty["aurc"] is None and empty["points"] == [] and empty["coverage_at_target"] == 0
    with pytest.raises(ValueError, match="2 scores but 1"):
        risk_coverage([0.1, 0.2], [True])


def _item(fid: str, answer: str | None, gold: str):
    return SimpleNamespace(feedback=SimpleNamespace(id=fid), chain=SimpleNamespace(answer=answer),
                           example=SimpleNamespace(answer=gold))


def test_calibration_entry_gets_its_curve():
    items = [_item("a", "yes", "yes"), _item("b", "no", "yes"), _item("c", None, "no")]
    cal = {"records": [{"feedback_id": "a", "p_no_error": 0.8},
                       {"feedback_id": "b", "p_no_error": 0.6},
                       {"feedback_id": "c", "p_no_error": 0.8}]}
    sel = add_selective(cal, items)["selective"]
    # t = 0.8 answers a (right) and c (unreadable answer: wrong); t = 0.6 adds b (wrong)
    assert [(p["answered"], p["wrong"]) for p in sel["points"]] == [(2, 1), (3, 2)]
    assert sel["aurc"] == pytest.approx((2 / 3) * (1 / 2) + (1 / 3) * (2 / 3))
    with pytest.raises(ValueError, match="no gold comparison for record c"):
        add_selective(cal, items[:2])


def test_dev_curve_scores_the_models_own_answers():
    from inference.toy_models import ScriptedGenerator

    def score(prompt: str, choice: str) -> float:
        sure = "GOOD" in prompt
        return (0.0 if sure else -5.0) if choice == "no error" else (-5.0 if sure else 0.0)

    model = ScriptedGenerator(lambda p, j: "", score=score)
    examples = [SimpleNamespace(question=f"q{i}", answer="yes") for i in range(4)]
    preds = [SimpleNamespace(text="The answer is yes because GOOD.", answer="yes"),
             SimpleNamespace(text="The answer is no because GOOD.", answer="no"),
             SimpleNamespace(text="The answer is yes because bad.", answer="yes"),
             SimpleNamespace(text="The answer is no because bad.", answer="no")]
    sel = dev_selective(model, examples, preds)
    asked = model.calls[0]["prompts"]
    assert asked[0].startswith("Which errors does the answer to the question contain?")
    assert "Answer: The answer is yes because GOOD." in asked[0]
    # two score values: the GOOD pair (1 of 2 wrong), then all four (2 of 4 wrong)
    assert [(p["answered"], p["wrong"]) for p in sel["points"]] == [(2, 1), (4, 2)]
    assert sel["aurc"] == pytest.approx(0.5) and sel["method"] == "multitask (greedy)"


def test_report_finds_every_curve_flat_or_per_detection_set(tmp_path):
    from eval.plots import plot_risk_coverage, selective_curves
    from eval.report import selective_markdown

    sel = selective_summary(SCORES, RIGHT)
    report = {"calibration": {"icl": {"selective": sel, "bins": []},
                              "sports_heldout": {"finetuned": {"selective": sel}}},
              "selective_dev": {"strategyqa": sel}}
    names = [(panel, name) for panel, name, _ in selective_curves(report)]
    assert names == [("StrategyQA calibration records", "ICL baseline (base model, 4-shot)"),
                     ("Sports detection records (held out)",
                      "sports_heldout: Multitask fine-tuned"),
                     ("dev sets: multitask's own answers", "StrategyQA")]
    md = "\n".join(selective_markdown(report))
    # AURC .45 against random .5: -0.05, better than random, so not named as worse
    assert md.count("| 0.450 | 0.192 | 0.500 | -0.0500 |") == 3
    assert "Worse than random order" not in md
    assert plot_risk_coverage(report, tmp_path / "rc.png").stat().st_size > 0
    assert plot_risk_coverage({"calibration": {}}, tmp_path / "none.png") is None
