"""Intervals and the paired test against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eval.metrics import auroc
from eval.stats import (
    accuracy_summary,
    bootstrap_auroc_ci,
    bootstrap_indices,
    bootstrap_mean_ci,
    majority_class,
    mcnemar_exact,
    percentile_interval,
    resample_aurocs,
    wilson_interval,
)


def test_wilson_hand_computed() -> None:
    # z = 1.96, z² = 3.8415. 5/10: p = .5, z²/n = .38415, centre = (.5 + .19207) / 1.38415 = .5,
    # half = 1.95996 / 1.38415 · sqrt(.025 + 3.8415 / 400) = 1.41600 · .186021 = .26341
    assert wilson_interval(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-5)
    # 0/10: centre = .19207 / 1.38415 = .13876, half = 1.41600 · sqrt(.0096037) = .13877
    # -> [0, .27753] (the lower end is 0, not negative)
    lo, hi = wilson_interval(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(0.27753, abs=1e-5)
    # 81/100: centre = (.81 + .019207) / 1.038415 = .798532,
    # half = 1.959964 / 1.038415 · sqrt(.001539 + .000096038) = 1.887455 · .0404356 = .076320
    assert wilson_interval(81, 100) == pytest.approx((0.722212, 0.874852), abs=1e-5)
    with pytest.raises(ValueError, match="n = 0"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="not in"):
        wilson_interval(11, 10)


def test_percentile_interval_hand_computed() -> None:
    # 5 sorted values, linear interpolation: the 25th percentile sits at position
    # 0.25 · 4 = 1 -> .25, the 75th at position 3 -> .75
    assert percentile_interval([1.0, 0.0, 0.75, 0.5, 0.25], level=0.5) == (0.25, 0.75)
    # NaNs are left out: [0, 1] -> 2.5th percentile at .025 · 1 -> .025, 97.5th -> .975
    assert percentile_interval([0.0, float("nan"), 1.0]) == pytest.approx((0.025, 0.975))


def test_bootstrap_mean_ci_hand_worked() -> None:
    # Values 1, 1, 1, 0: a resample's mean is k/4 with k ~ Binomial(4, 3/4):
    # P(k=0) = 1/256 = .0039, P(k<=1) = 13/256 = .051, P(k=4) = 81/256 = .316.
    # So the 2.5th percentile of 2000 resample means falls among the k=1 draws (.25) and the
    # 97.5th among the k=4 draws (1.0).
    assert bootstrap_mean_ci([1, 1, 1, 0], b=2000, seed=0) == (0.25, 1.0)
    # A constant vector: every resample has the same mean.
    assert bootstrap_mean_ci([1, 1, 1], b=50) == (1.0, 1.0)
    # Two values 0, 1: resample means 0, .5, 1 with P = 1/4, 1/2, 1/4 -> [0, 1].
    assert bootstrap_mean_ci([0, 1], b=1000) == (0.0, 1.0)


def test_bootstrap_is_deterministic_given_the_seed() -> None:
    values = [i % 3 == 0 for i in range(50)]
    assert bootstrap_mean_ci(values, seed=7) == bootstrap_mean_ci(values, seed=7)
    assert np.array_equal(bootstrap_indices(20, 5, seed=3), bootstrap_indices(20, 5, seed=3))
    assert not np.array_equal(bootstrap_indices(20, 5, seed=3), bootstrap_indices(20, 5, seed=4))
    assert bootstrap_indices(20, 5).shape == (5, 20)


def test_resample_aurocs_hand_computed() -> None:
    scores, labels = [0.9, 0.4, 0.5, 0.1], [True, True, False, False]
    idx = np.array([
        [0, 1, 2, 3],  # the original: pairs .9>.5, .9>.1, .4<.5, .4>.1 -> 3/4
        [0, 0, 2, 3],  # positives .9 .9, negatives .5 .1: every pair won -> 1
        [1, 2, 2, 3],  # positive .4 vs .5, .5, .1 -> 1/3
        [0, 1, 0, 1],  # no negative: undefined
        [1, 2, 3, 3],  # .4 vs .5, .1, .1 -> 2/3
    ])
    got = resample_aurocs(scores, labels, idx)
    assert got[:3] == pytest.approx([0.75, 1.0, 1 / 3]) and math.isnan(got[3])
    assert got[4] == pytest.approx(2 / 3)
    # The same as the pure function applied to the resampled lists.
    for row, value in zip(idx, got, strict=True):
        ref = auroc([scores[i] for i in row], [labels[i] for i in row])
        assert (ref is None and math.isnan(value)) or ref == pytest.approx(value)
    # Ties count 1/2: positive .5 vs negative .5
    assert resample_aurocs([0.5, 0.5], [True, False], np.array([[0, 1]]))[0] == 0.5


def test_bootstrap_auroc_ci() -> None:
    # Perfectly separated: every defined resample has AUROC 1.
    ci = bootstrap_auroc_ci([0.9, 0.8, 0.2, 0.1], [True, True, False, False], b=200)
    assert (ci["lo"], ci["hi"]) == (1.0, 1.0)
    # P(a resample of 4 has one class) = 2 · (1/2)^4 = 1/8 -> about 25 of 200 undefined
    assert 5 < ci["undefined"] < 50
    assert bootstrap_auroc_ci([0.1, 0.2], [True, True])["lo"] is None


def test_mcnemar_exact_hand_computed() -> None:
    def pairs(won: int, lost: int, both: int = 3, neither: int = 2):
        base = [False] * won + [True] * lost + [True] * both + [False] * neither
        meth = [True] * won + [False] * lost + [True] * both + [False] * neither
        return base, meth

    # b=1, c=5: d=6, P(X<=1) = (1 + 6) / 64 -> p = 14/64 = .21875
    assert mcnemar_exact(*pairs(1, 5)) == {"won": 1, "lost": 5, "discordant": 6,
                                           "p_value": 0.21875}
    # b=0, c=6: 2 · 1/64 = .03125
    assert mcnemar_exact(*pairs(0, 6))["p_value"] == 0.03125
    # b=2, c=10: d=12, (1 + 12 + 66) / 4096 = 79/4096 -> p = 158/4096 = .0385742...
    assert mcnemar_exact(*pairs(2, 10))["p_value"] == pytest.approx(158 / 4096)
    # b=c=3: 2 · (1 + 6 + 15 + 20)/64 = 84/64 > 1 -> 1
    assert mcnemar_exact(*pairs(3, 3))["p_value"] == 1.0
    # no discordant pair: p = 1
    assert mcnemar_exact(*pairs(0, 0)) == {"won": 0, "lost": 0, "discordant": 0, "p_value": 1.0}
    with pytest.raises(ValueError, match="2 baseline and 1 method"):
        mcnemar_exact([True, False], [True])


def test_majority_class_hand_computed() -> None:
    # 3 'no' of 5: accuracy .6, Wilson(3, 5): centre (.6 + .38415) / 1.76830 = .55649,
    # half 1.95996 / 1.76830 · sqrt(.048 + .038415) = 1.10839 · .293965 = .32583
    maj = majority_class(["no", "yes", "no", "yes", "no"])
    assert (maj["answer"], maj["count"], maj["n"], maj["accuracy"]) == ("no", 3, 5, 0.6)
    assert maj["ci"] == pytest.approx([0.23066, 0.88232], abs=1e-4)
    assert majority_class(["yes", "no"])["answer"] == "no"  # a tie: alphabetical


def test_accuracy_summary_one_result_uses_wilson() -> None:
    # 5 of 10 right in both seeds, seed-independent: mean .5, std 0, Wilson [.2366, .7634]
    right = [True] * 5 + [False] * 5
    s = accuracy_summary([right, right], seed_dependent=False)
    assert (s["mean"], s["std"], s["seeds"], s["ci_method"]) == (0.5, 0.0, 2, "wilson")
    assert s["ci"] == pytest.approx([0.23659, 0.76341], abs=1e-5)


def test_accuracy_summary_several_seeds_bootstraps_the_seed_mean() -> None:
    # seeds: [1,1,0,0] .5, [1,0,1,0] .5, [1,1,1,0] .75 -> mean 1.75/3 = .58333,
    # deviations -1/12, -1/12, +2/12 -> var = (1 + 1 + 4)/144 / 2 = 1/48 -> std .144338
    seeds = [[True, True, False, False], [True, False, True, False], [True, True, True, False]]
    s = accuracy_summary(seeds, seed_dependent=True, b=2000)
    assert s["mean"] == pytest.approx(7 / 12) and s["std"] == pytest.approx(math.sqrt(1 / 48))
    assert s["ci_method"] == "bootstrap"
    # per-question shares right: 1, 2/3, 2/3, 0; their bootstrap mean is in [0, 1] and the
    # CI must bracket 7/12 and be the bootstrap of exactly those shares
    assert s["ci"] == list(bootstrap_mean_ci([1, 2 / 3, 2 / 3, 0], b=2000))
    assert s["ci"][0] < 7 / 12 < s["ci"][1]
    assert s["wilson_per_seed"][2] == pytest.approx(list(wilson_interval(3, 4)))
    with pytest.raises(ValueError, match="equally many"):
        accuracy_summary([[True], [True, False]], seed_dependent=True)
