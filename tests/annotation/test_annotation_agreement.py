"""Agreement metrics against numbers worked out by hand, and on FeedbackItems."""

from __future__ import annotations

import pytest

from annotation.agreement import (
    HAS_ERROR,
    agreement,
    cohen_kappa,
    format_report,
    jaccard,
    krippendorff_alpha,
    token_f1,
)


def test_krippendorff_alpha_by_hand():
    # Units [a,a] [a,b] [b,b] [b,b]: o_aa=2, o_ab=o_ba=1, o_bb=4; n_a=3, n_b=5, n=8.
    # alpha = 1 - (n-1) * 2 / (2 * 3 * 5) = 1 - 14/30 = 8/15.
    assert krippendorff_alpha([["a", "a"], ["a", "b"], ["b", "b"], ["b", "b"]]) == \
        pytest.approx(8 / 15)


def test_krippendorff_alpha_missing_values_and_three_coders():
    # Unit [a,a,b] (m=3): each ordered pair weighs 1/2: o_aa=1, o_ab=o_ba=1; unit [b] unpairable;
    # unit [b,b]: o_bb=2. n_a=2, n_b=3, n=5: alpha = 1 - 4 * 2 / (2*2*3) = 1/3.
    assert krippendorff_alpha([["a", "a", "b"], ["b"], ["b", "b"]]) == pytest.approx(1 / 3)


def test_krippendorff_alpha_perfect_and_undefined():
    assert krippendorff_alpha([["a", "a"], ["b", "b"]]) == pytest.approx(1.0)
    assert krippendorff_alpha([["a", "a"], ["a", "a"]]) is None


def test_cohen_kappa_by_hand():
    # po = 3/4; pe = .5*.25 + .5*.75 = .5; kappa = (.75-.5)/(1-.5) = .5
    assert cohen_kappa([1, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx(0.5)
    assert cohen_kappa([1, 1], [1, 1]) is None
    with pytest.raises(ValueError):
        cohen_kappa([1], [1, 0])


def test_jaccard_and_token_f1_by_hand():
    assert jaccard([1, 2], [2, 3]) == pytest.approx(1 / 3)
    assert jaccard([], []) is None  # nothing to agree on: not scored as 1
    assert jaccard([], [1]) == 0.0
    # common 2 tokens; precision 2/3, recall 1 -> F1 = 0.8
    assert token_f1("The cat sat", "the cat") == pytest.approx(0.8)
    assert token_f1("", "") == 1.0
    assert token_f1("a", "b") == 0.0


def test_agreement_on_feedback_items(make_item):
    # Two chains, annotators x and y: chain 1 both FE (steps {1} vs {1,2}); chain 2 x FE, y none.
    items = [
        make_item("c1", "x", ["FE"], [1], "The answer is no because a b."),
        make_item("c1", "y", ["FE"], [1, 2], "The answer is no because a b."),
        make_item("c2", "x", ["FE"], [2], "The answer is yes because c."),
        make_item("c2", "y", [], [], "The answer is yes because d."),
        make_item("c3", "x", ["MF"], [1], "The answer is yes because e."),  # one annotator only
    ]
    report = agreement(items)
    assert report.n_chains == 2 and report.annotators == ["x", "y"]
    (pair,) = report.pairs
    # FE: x=[T,T], y=[T,F]: po=.5, pe=1*.5+0*.5=.5 -> kappa 0
    assert pair.kappa["FE"] == pytest.approx(0.0)
    assert pair.kappa[HAS_ERROR] == pytest.approx(0.0)
    assert pair.kappa["MF"] is None  # no variation
    # Steps: J({1},{1,2}) = .5, J({2},{}) = 0 -> mean .25
    assert pair.steps_jaccard == pytest.approx(0.25)
    # Corrections: identical (1.0); "answer is yes because c" vs "... d": 5 of 6 tokens -> 5/6
    assert pair.correction_f1 == pytest.approx((1 + 5 / 6) / 2)
    # alpha FE: units [T,T], [T,F]: o_TT=2, o_TF=o_FT=1; n_T=3, n_F=1, n=4
    # alpha = 1 - 3*2/(2*3*1) = 0
    assert report.alpha["FE"] == pytest.approx(0.0)
    assert pair.steps_both_empty == 0 and report.steps_comparisons == 2
    text = format_report(report)
    assert "x / y" in text and "0.25" in text
    assert "mean over 2 pair x chain comparisons with a step marked" in text


def test_empty_step_sets_are_counted_apart_and_means_are_over_comparisons(make_item):
    # x/y: c1 J({1},{1,2}) = .5, c2 both empty (not scored), c3 J = 1 -> pair mean .75;
    # x/z: c1 J({1},{3}) = 0; y/z: c1 J({1,2},{3}) = 0.
    # Over comparisons: (.5 + 1 + 0 + 0) / 4 = .375 (a mean over pairs would be .25).
    items = [
        make_item("c1", "x", ["FE"], [1], "a"), make_item("c1", "y", ["FE"], [1, 2], "a"),
        make_item("c1", "z", ["FE"], [3], "a"),
        make_item("c2", "x", [], [], "b"), make_item("c2", "y", [], [], "b"),
        make_item("c3", "x", ["FE"], [1], "c"), make_item("c3", "y", ["FE"], [1], "c"),
    ]
    report = agreement(items)
    assert report.steps_jaccard == pytest.approx(0.375)
    assert (report.steps_comparisons, report.steps_both_empty) == (4, 1)
    xy = next(p for p in report.pairs if p.annotators == ("x", "y"))
    assert xy.steps_jaccard == pytest.approx(0.75) and xy.steps_both_empty == 1
    assert report.correction_comparisons == 5  # x/y 3, x/z 1, y/z 1


def test_step_rating_agreement(make_item):
    def rated(chain, who, ratings):
        item = make_item(chain, who, ["FE"], [1], "a")
        return item.model_copy(update={"feedback": item.feedback.model_copy(
            update={"step_ratings": ratings})})

    items = [rated("c1", "x", ["correct", "wrong"]), rated("c1", "y", ["correct", "neutral"]),
             rated("c2", "x", ["wrong", "wrong"]), rated("c2", "y", ["wrong", "correct"]),
             make_item("c3", "x", [], [], "a"), rated("c3", "y", ["correct", "correct"])]
    report = agreement(items)
    # Steps alike: c1 1/2, c2 1/2 -> 2/4; c3 not rated by x. First wrong: c1 1 vs None, c2 0=0.
    assert report.step_rating_agreement == pytest.approx(0.5)
    assert report.first_wrong_step_agreement == pytest.approx(0.5)
