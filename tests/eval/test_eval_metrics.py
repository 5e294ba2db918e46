"""Metrics against numbers worked out by hand."""

from __future__ import annotations

import pytest

from eval.metrics import (
    accuracy,
    auroc,
    detection_accuracy,
    expected_calibration_error,
    mean_std,
    reliability_bins,
)


def test_accuracy_counts_unparsed_as_wrong() -> None:
    assert accuracy(["yes", None, "no", "no"], ["yes", "yes", "no", "yes"]) == 0.5
    assert accuracy(["no"], ["no"]) == 1.0
    with pytest.raises(ValueError, match="2 predictions but 1"):
        accuracy(["yes", "no"], ["yes"])


def test_mean_std_is_sample_std() -> None:
    # values 0.6, 0.7, 0.8: mean 0.7, deviations +-0.1 -> var = 0.02 / 2 = 0.01 -> std 0.1
    m, s = mean_std([0.6, 0.7, 0.8])
    assert m == pytest.approx(0.7) and s == pytest.approx(0.1)
    assert mean_std([0.5]) == (0.5, 0.0)


def test_detection_accuracy_as_in_the_paper() -> None:
    # predicted no-error / gold no-error: hit, miss, hit (error-error), unreadable -> miss
    assert detection_accuracy([True, True, False, None], [True, False, False, True]) == 0.5


def test_auroc_hand_computed() -> None:
    # positives 0.9, 0.4; negatives 0.5, 0.1 -> pairs: (0.9>0.5) (0.9>0.1) (0.4<0.5) (0.4>0.1)
    assert auroc([0.9, 0.4, 0.5, 0.1], [True, True, False, False]) == pytest.approx(0.75)
    # a tie counts one half: positive 0.5 vs negative 0.5 -> 0.5
    assert auroc([0.5, 0.5], [True, False]) == pytest.approx(0.5)
    assert auroc([0.2, 0.3], [True, True]) is None


def test_auroc_matches_sklearn() -> None:
    from sklearn.metrics import roc_auc_score

    scores = [0.1, 0.4, 0.35, 0.8, 0.8, 0.2, 0.9, 0.5]
    labels = [False, False, True, True, False, True, True, False]
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))


def test_ece_and_bins_hand_computed() -> None:
    # 2 bins: [0, .5) holds 0.2 (y=0), 0.4 (y=1): mean .3, freq .5 -> |.2| * 2/4
    #         [.5, 1] holds 0.6 (y=1), 1.0 (y=1): mean .8, freq 1 -> |.2| * 2/4
    probs, labels = [0.2, 0.4, 0.6, 1.0], [False, True, True, True]
    bins = reliability_bins(probs, labels, bins=2)
    assert [b["count"] for b in bins] == [2, 2]
    assert bins[0]["mean_prob"] == pytest.approx(0.3) and bins[1]["frequency"] == 1.0
    assert expected_calibration_error(probs, labels, bins=2) == pytest.approx(0.2)
    # perfectly calibrated: ECE 0
    assert expected_calibration_error([0.0, 1.0], [False, True], bins=10) == 0.0


def test_ece_if_calibrated_is_the_sampling_floor_worked_by_hand():
    """Two records at P 0.5 share one bin; a draw of labels scores |mean(y) - 0.5|: 0.5 when
    both labels agree (probability 1/2), 0 when they differ, so the floor's mean is 0.25 and
    its 95th percentile 0.5; a certain, right scorer has no floor."""
    from eval.metrics import ece_if_calibrated

    floor = ece_if_calibrated([0.5, 0.5], draws=4000, seed=1)
    assert abs(floor["mean"] - 0.25) < 0.02 and floor["q95"] == 0.5
    assert ece_if_calibrated([0.0, 1.0], draws=50) == {"mean": 0.0, "q95": 0.0}
    assert ece_if_calibrated([0.5, 0.5], draws=200, seed=3) == \
        ece_if_calibrated([0.5, 0.5], draws=200, seed=3)  # seeded


def test_the_base_rate_gap_bounds_the_ece_from_below():
    """Mean P 0.2 against a share of 1/2: gap 0.3. P 0.1 on the two positives and 0.3 on the
    two negatives: the bins give |0.1 − 1| and |0.3 − 0|, ECE 0.6, above the gap 0.3."""
    from eval.metrics import base_rate_gap, expected_calibration_error

    assert base_rate_gap([0.2] * 4, [True, True, False, False]) == 0.3
    probs, labels = [0.1, 0.1, 0.3, 0.3], [True, True, False, False]
    # bin of 0.1: share 1 -> 0.9; bin of 0.3: share 0 -> 0.3; ECE = (0.9 + 0.3) / 2 = 0.6
    assert expected_calibration_error(probs, labels) == pytest.approx(0.6)
    assert base_rate_gap(probs, labels) == 0.3 <= 0.6
    with pytest.raises(ValueError, match="need as many"):
        base_rate_gap([0.5], [])
