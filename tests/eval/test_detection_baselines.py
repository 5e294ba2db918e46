"""Table 2's baselines, the paired AUROC bootstrap, τ, refine flips and AURC against random,
against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest

from eval.detection_baselines import (
    content_free_calibrate,
    content_free_probabilities,
    no_error_share,
    sports_named,
    sports_rule_check,
)
from eval.metrics import choose_threshold, round_flips
from eval.selective import against_random, selective_summary
from eval.stats import paired_bootstrap_auroc_diff
from inference.combined_critic import agreement_score

VOCAB = {"players": {"soccer": ["Lionel Messi"], "basketball": ["LeBron James"],
                     "football": ["Tom Brady"]},
         "player_actions": {"soccer": ["scored a freekick"],
                            "basketball": ["took a corner three"],
                            "football": ["threw a touchdown"]},
         "games": {}}


def test_paired_bootstrap_hand_checkable() -> None:
    # a ranks perfectly, b in reverse: every resample with both classes gives 1 - 0.
    r = paired_bootstrap_auroc_diff([0.9, 0.1], [0.1, 0.9], [True, False], b=300, seed=3)
    assert (r["diff"], r["lo"], r["hi"], r["p_value"]) == (1.0, 1.0, 1.0, 0.0)
    # the same scores: the difference is 0 in every resample, p = 1
    same = paired_bootstrap_auroc_diff([0.2, 0.7, 0.4], [0.2, 0.7, 0.4], [True, False, True],
                                       b=300)
    assert (same["diff"], same["lo"], same["hi"], same["p_value"]) == (0.0, 0.0, 0.0, 1.0)
    # Labels T, F, F; a = (.9, .5, .1) ranks perfectly (AUROC 1); b = (.5, .9, .1) gives the
    # positive .5 against .9 (0) and .1 (1): AUROC .5, so the difference is .5.
    # A resample holding the records c0, c1, c2 times (c0 >= 1, c1 + c2 >= 1) has
    # AUROC_a = 1 and AUROC_b = c2 / (c1 + c2): the difference is c1 / (c1 + c2) >= 0, and 0
    # exactly when c1 = 0. Of the 27 equally likely draws of 3, 9 have one class only
    # (undefined); of the 18 others, 6 draw only records 0 and 2 (both present): P = 1/3,
    # so the two-sided p-value is 2/3.
    r = paired_bootstrap_auroc_diff([0.9, 0.5, 0.1], [0.5, 0.9, 0.1], [True, False, False],
                                    b=20000, seed=0)
    assert r["diff"] == pytest.approx(0.5) and r["auroc_a"] == 1.0 and r["auroc_b"] == 0.5
    assert r["p_value"] == pytest.approx(2 / 3, abs=0.02)
    assert r["undefined"] / 20000 == pytest.approx(1 / 3, abs=0.02)
    assert r["lo"] == 0.0 and r["hi"] == 1.0
    # seeded: the same seed gives the same numbers, another seed other resamples
    again = paired_bootstrap_auroc_diff([0.9, 0.5, 0.1], [0.5, 0.9, 0.1], [True, False, False],
                                        b=20000, seed=0)
    assert again == r
    # one class only: nothing to compare
    assert paired_bootstrap_auroc_diff([0.1], [0.2], [True])["diff"] is None


def test_prior_agreement_and_content_free() -> None:
    assert no_error_share([True, False, False, False, True]) == 0.4
    with pytest.raises(ValueError):
        no_error_share([])
    assert agreement_score("no", ["no", "no", "yes", None]) == 0.5
    assert agreement_score("yes", ["Yes"], same=lambda a, b: a.lower() == b.lower()) == 1.0
    assert agreement_score(None, ["no"]) == 0.0
    # Content-free: two content-free inputs give (.2, .8) and (.4, .6): mean (.3, .7).
    p_cf = content_free_probabilities([[math.log(0.2), math.log(0.8)],
                                       [math.log(0.4), math.log(0.6)]])
    assert p_cf == pytest.approx([0.3, 0.7])
    # A record with p = (.3, .7) is exactly the content-free prior: calibrated to 1/2.
    assert content_free_calibrate([math.log(0.3), math.log(0.7)], p_cf) == pytest.approx(0.5)
    # p = (.6, .4): q ∝ (.6/.3, .4/.7) = (2, .5714): q0 = 2 / 2.5714 = .7778
    assert content_free_calibrate([math.log(0.6), math.log(0.4)], p_cf) == \
        pytest.approx(0.77778, abs=1e-5)
    # Unnormalised log-probabilities give the same answer (only the ratios count).
    assert content_free_calibrate([math.log(0.6) - 5, math.log(0.4) - 5], p_cf) == \
        pytest.approx(0.77778, abs=1e-5)


def test_sports_rule_checker_on_hand_made_chains() -> None:
    q_right = "LeBron James took a corner three. Is this sentence plausible?"
    q_wrong = "Lionel Messi took a corner three. Is this sentence plausible?"
    good = sports_rule_check(q_right, "The answer is yes because LeBron James is a basketball "
                             "player. A corner three is a shot in basketball.", "yes", VOCAB)
    assert (good.player_sport, good.action_sport) == ("basketball", "basketball")
    assert good.named_sport_right and good.answer_right and good.score == 1.0
    # wrong sport for the player and the wrong answer
    bad = sports_rule_check(q_wrong, "The answer is yes because Lionel Messi is a basketball "
                            "player.", "yes", VOCAB)
    assert (bad.named_sport_right, bad.answer_right, bad.score) == (False, False, 0.0)
    # "footballer" is soccer; the answer 'no' is right (soccer player, basketball action)
    ok = sports_rule_check(q_wrong, "The answer is no because Lionel Messi is a footballer "
                           "and corner threes are in basketball.", "no", VOCAB)
    assert (ok.named_sport_right, ok.answer_right, ok.score) == (True, True, 1.0)
    # right sport, wrong answer: one check of two
    half = sports_rule_check(q_wrong, "The answer is yes because Lionel Messi is a soccer "
                             "player.", "yes", VOCAB)
    assert (half.named_sport_right, half.answer_right, half.score) == (True, False, 0.5)
    # no sport named: that check counts 1/2
    vague = sports_rule_check(q_wrong, "The answer is no because Lionel Messi is great.",
                              "no", VOCAB)
    assert (vague.named_sport_right, vague.score) == (None, 0.75)
    # "football" alone may mean soccer or American football; "American football" may not
    # mean soccer
    amb = sports_rule_check(q_wrong, "The answer is no because Lionel Messi plays football.",
                            "no", VOCAB)
    assert amb.named_sport_right is True
    am = sports_rule_check(q_wrong, "The answer is no because Lionel Messi plays American "
                           "football.", "no", VOCAB)
    assert am.named_sport_right is False
    # a sport named before the player's name is not the player's
    first = sports_rule_check(q_wrong, "The answer is no because in basketball, Lionel Messi "
                              "is a soccer player.", "no", VOCAB)
    assert first.named_sport_right is True
    # an unknown player or an unreadable answer: nothing checked, 0.5
    unknown = sports_rule_check("Nobody scored. Is this sentence plausible?", "soccer", None,
                                VOCAB)
    assert (unknown.named_sport_right, unknown.answer_right, unknown.score) == (None, None, 0.5)
    assert sports_named("NFL and ice hockey") == [(0, ("football",)), (12, ("hockey",))]


def test_choose_threshold_balanced_accuracy() -> None:
    # Scores .9 .6 .4 .1 for T T F F: tau .6 keeps both error-free, rewrites both with error:
    # balanced accuracy 1. tau .4 keeps one with error: (1 + .5) / 2 = .75.
    best = choose_threshold([0.9, 0.6, 0.4, 0.1], [True, True, False, False])
    assert best == {"tau": 0.6, "balanced_accuracy": 1.0, "rewritten_share": 0.5}
    # A constant critic cannot separate: every tau scores .5; the smallest (rewrite nothing)
    # wins the tie, not "rewrite everything" as plain accuracy on 3 errors of 4 would choose.
    flat = choose_threshold([0.2, 0.2, 0.2, 0.2], [True, False, False, False])
    assert flat["tau"] == 0.2 and flat["balanced_accuracy"] == 0.5
    assert flat["rewritten_share"] == 0.0
    with pytest.raises(ValueError, match="with and without"):
        choose_threshold([0.1, 0.2], [False, False])


def test_round_flips_hand_counted() -> None:
    # example 1: right, wrong after round 1, still wrong after round 2;
    # example 2: wrong, right after round 1 (then stopped); example 3: never refined;
    # example 4: wrong -> wrong -> right.
    flips = round_flips([[True, False, False], [False, True], [True],
                         [False, False, True]])
    assert flips == [{"round": 1, "ran": 3, "right_to_wrong": 1, "wrong_to_right": 1},
                     {"round": 2, "ran": 2, "right_to_wrong": 0, "wrong_to_right": 1}]
    assert round_flips([[True], [False]]) == []


def test_aurc_against_random_and_oracle() -> None:
    correct = [True, False, False, True]
    # Optimal order (right first): (1/4) sum_i max(0, i - 2) / i = (1/3 + 1/2) / 4 = .20833.
    good = selective_summary([0.9, 0.2, 0.9, 0.5], correct)
    assert good["aurc"] == pytest.approx(0.458333, abs=1e-6)
    assert good["aurc_optimal"] == pytest.approx(0.208333, abs=1e-6)
    assert good["aurc_random"] == 0.5
    assert good["aurc_minus_random"] == pytest.approx(-0.041667, abs=1e-6)
    assert good["worse_than_random"] is False
    # (.45833 - .20833) / (.5 - .20833) = .25 / .29167 = .857
    assert good["excess_aurc"] == pytest.approx(0.857143, abs=1e-6)
    # Both wrong chains first (tied at .9): .5 · 1 + .25 · 2/3 + .25 · .5 = .79167,
    # worse than random by .29167; excess (.79167 - .20833) / .29167 = 2.
    bad = selective_summary([0.1, 0.9, 0.9, 0.2], correct)
    assert bad["aurc"] == pytest.approx(0.791667, abs=1e-6)
    assert bad["worse_than_random"] is True
    assert bad["aurc_minus_random"] == pytest.approx(0.291667, abs=1e-6)
    assert bad["excess_aurc"] == pytest.approx(2.0)
    # every chain right: random and oracle orders are the same, no excess to speak of
    assert against_random(0.0, 0.0, 0.0)["excess_aurc"] is None
