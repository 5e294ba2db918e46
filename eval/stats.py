"""Confidence intervals and paired tests as pure functions (numpy only; no scikit-learn).

- :func:`wilson_interval`: the Wilson score interval of a proportion.
- :func:`bootstrap_mean_ci`, :func:`bootstrap_auroc_ci`: percentile bootstrap over questions
  (or records), deterministic: a ``numpy.random.Generator`` seeded with ``seed`` draws the
  B resamples, and the interval is ``numpy.percentile`` (linear interpolation) of the B
  statistics at (1 - level) / 2 and (1 + level) / 2.
- :func:`paired_bootstrap_auroc_diff`: a paired percentile bootstrap of the difference of two
  scorers' AUROCs on the same records (the same resamples for both).
- :func:`mcnemar_exact`: the exact (binomial) McNemar test on paired right/wrong outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

# The 0.975 quantile of the standard normal distribution (a two-sided 95% interval).
Z95 = 1.959963984540054
DEFAULT_B = 1000
DEFAULT_LEVEL = 0.95
# How the report's numbers are made (copied into report.json).
STATISTICS = {
    "accuracy_ci": "95% CI. Wilson score interval when a method gave one result (one seed, or "
                   "seed-independent: greedy decoding of the same prompt); otherwise a "
                   "percentile bootstrap over questions of the seed-averaged accuracy.",
    "std": "sample standard deviation (n - 1) of the per-seed accuracies",
    "majority": "always answering the most frequent gold answer of the evaluated dev "
                "questions themselves (not of a training set); Wilson 95% CI",
    "paired_test": "exact McNemar test (two-sided binomial on the discordant questions) of "
                   "each method against CoT on the same questions and seed; won = right where "
                   "CoT is wrong, lost = the reverse",
    "calibration_ci": "percentile bootstrap 95% CIs over the calibration records",
}


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of ``successes / n``.

    centre = (p + z²/2n) / (1 + z²/n), half width = z / (1 + z²/n) · sqrt(p(1-p)/n + z²/4n²).

    >>> [round(x, 4) for x in wilson_interval(5, 10)]
    [0.2366, 0.7634]
    """
    if n < 1:
        raise ValueError(f"Wilson interval of n = {n}: need n >= 1")
    if not 0 <= successes <= n:
        raise ValueError(f"Wilson interval: successes {successes} not in [0, {n}]")
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_indices(n: int, b: int = DEFAULT_B, seed: int = 0) -> np.ndarray:
    """B resamples (rows) of n indices drawn with replacement, from a generator seeded ``seed``."""
    if n < 1 or b < 1:
        raise ValueError(f"bootstrap needs n >= 1 and B >= 1, got n={n}, B={b}")
    return np.random.default_rng(seed).integers(0, n, size=(b, n))


def percentile_interval(stats: Sequence[float] | np.ndarray,
                        level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """The (1-level)/2 and (1+level)/2 percentiles of ``stats`` (NaNs ignored).

    >>> percentile_interval([0.0, 0.25, 0.5, 0.75, 1.0], level=0.5)
    (0.25, 0.75)
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    arr = np.asarray(stats, dtype=float)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        raise ValueError("percentile interval of no values")
    lo, hi = np.percentile(arr, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def bootstrap_mean_ci(values: Sequence[float] | np.ndarray, b: int = DEFAULT_B, seed: int = 0,
                      level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (one value per question).

    With 0/1 values it is the CI of an accuracy; with each question's share of seeds
    answered right it is the CI of the seed-averaged accuracy.
    """
    arr = np.asarray(values, dtype=float)
    idx = bootstrap_indices(arr.size, b, seed)
    return percentile_interval(arr[idx].mean(axis=1), level)


def _pair_kernel(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kernel K[i, j] = 1 if score_i > score_j, 1/2 if equal, 0 otherwise, for every
    (positive i, negative j), and the positions of positives and negatives."""
    pos = np.flatnonzero(labels)
    neg = np.flatnonzero(~labels)
    diff = scores[pos][:, None] - scores[neg][None, :]
    return (diff > 0) + 0.5 * (diff == 0), np.concatenate([pos, neg])


def resample_aurocs(scores: Sequence[float], labels: Sequence[bool],
                    indices: np.ndarray) -> np.ndarray:
    """AUROC of each resample (row of ``indices``); NaN where a resample has one class only.

    A resample holding record i c_i times counts each (positive i, negative j) pair
    c_i · c_j times, so AUROC = c_posᵀ K c_neg / (Σ c_pos · Σ c_neg) with the pair kernel K
    of the original records: the same number :func:`eval.metrics.auroc` gives on the
    resampled lists, in one matrix product for all B resamples.
    """
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    kernel, _ = _pair_kernel(s, y)
    counts = np.zeros((indices.shape[0], s.size))
    np.add.at(counts, (np.arange(indices.shape[0])[:, None], indices), 1.0)
    cp, cn = counts[:, y], counts[:, ~y]
    denom = cp.sum(axis=1) * cn.sum(axis=1)
    num = np.einsum("bi,ij,bj->b", cp, kernel, cn)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, num / np.where(denom > 0, denom, 1.0), np.nan)


def bootstrap_auroc_ci(scores: Sequence[float], labels: Sequence[bool], b: int = DEFAULT_B,
                       seed: int = 0, level: float = DEFAULT_LEVEL) -> dict[str, Any]:
    """Percentile bootstrap CI of the AUROC over records.

    Resamples with a single class (AUROC undefined) are left out and counted in
    ``undefined``; ``lo``/``hi`` are None when the original data hold a single class.
    """
    y = np.asarray(labels, dtype=bool)
    if y.all() or not y.any():
        return {"lo": None, "hi": None, "b": b, "undefined": b}
    aurocs = resample_aurocs(scores, labels, bootstrap_indices(y.size, b, seed))
    lo, hi = percentile_interval(aurocs, level)
    return {"lo": lo, "hi": hi, "b": b, "undefined": int(np.isnan(aurocs).sum())}


def paired_bootstrap_auroc_diff(scores_a: Sequence[float], scores_b: Sequence[float],
                                labels: Sequence[bool], b: int = DEFAULT_B, seed: int = 0,
                                level: float = DEFAULT_LEVEL) -> dict[str, Any]:
    """AUROC(a) - AUROC(b) on the same records, with a paired percentile bootstrap.

    Each of the B resamples (rows of :func:`bootstrap_indices` with ``seed``) draws the
    records once and scores both scorers on that same draw, so the interval is that of the
    difference, not of two independent AUROCs. ``p_value``: the two-sided bootstrap p-value,
    min(1, 2 * min(share of resampled differences <= 0, share >= 0)); ``p_a_not_better``:
    the one-sided share of resampled differences <= 0 (small when a beats b). Resamples with
    one class only are left out and counted in ``undefined``. With a single class in the data
    every number is None.

    >>> r = paired_bootstrap_auroc_diff([0.9, 0.1], [0.1, 0.9], [True, False], b=200)
    >>> r["diff"], r["lo"], r["hi"]
    (1.0, 1.0, 1.0)
    """
    a = np.asarray(scores_a, dtype=float)
    c = np.asarray(scores_b, dtype=float)
    y = np.asarray(labels, dtype=bool)
    if a.shape != y.shape or c.shape != y.shape:
        raise ValueError(f"{a.size} and {c.size} scores but {y.size} labels")
    if y.all() or not y.any():
        return {"diff": None, "lo": None, "hi": None, "p_value": None, "p_a_not_better": None,
                "b": b, "seed": seed, "undefined": b}
    from eval.metrics import auroc

    idx = bootstrap_indices(y.size, b, seed)
    diffs = resample_aurocs(a, y, idx) - resample_aurocs(c, y, idx)
    ok = diffs[~np.isnan(diffs)]
    lo, hi = percentile_interval(ok, level)
    le, ge = float((ok <= 0).mean()), float((ok >= 0).mean())
    auroc_a, auroc_b = auroc(a.tolist(), y.tolist()), auroc(c.tolist(), y.tolist())
    assert auroc_a is not None and auroc_b is not None  # both classes are present
    return {"diff": auroc_a - auroc_b, "auroc_a": auroc_a, "auroc_b": auroc_b, "lo": lo,
            "hi": hi, "p_value": min(1.0, 2 * min(le, ge)),
            "p_a_not_better": le, "b": b, "seed": seed,
            "undefined": int(np.isnan(diffs).sum())}


def mcnemar_exact(baseline_correct: Sequence[bool],
                  method_correct: Sequence[bool]) -> dict[str, Any]:
    """Exact McNemar test of a method against a baseline on the same questions.

    won = questions the method gets right and the baseline wrong (b), lost = the reverse (c).
    Under H0 the discordant pairs split as Binomial(b + c, 1/2); the two-sided p-value is
    min(1, 2 · P(X <= min(b, c))), and 1 when there is no discordant pair.

    >>> mcnemar_exact([False, False, True], [True, True, True])
    {'won': 2, 'lost': 0, 'discordant': 2, 'p_value': 0.5}
    """
    if len(baseline_correct) != len(method_correct):
        raise ValueError(f"paired test of {len(baseline_correct)} baseline and "
                         f"{len(method_correct)} method outcomes")
    won = sum(1 for a, m in zip(baseline_correct, method_correct, strict=True) if m and not a)
    lost = sum(1 for a, m in zip(baseline_correct, method_correct, strict=True) if a and not m)
    d = won + lost
    tail = Fraction(sum(math.comb(d, i) for i in range(min(won, lost) + 1)), 2 ** d)
    return {"won": won, "lost": lost, "discordant": d, "p_value": float(min(Fraction(1), 2 * tail))}


FREE_FORM_MAJORITY = ("n/a: free-form answers have no majority class (almost every question "
                      "has its own answer)")


def majority_class(gold: Sequence[str], applicable: bool = True) -> dict[str, Any]:
    """The most frequent gold answer and the accuracy of always answering it, with its
    Wilson CI. A tie goes to the answer first in alphabetical order. With ``applicable``
    False (free-form answers) there is none: answer and accuracy are None and ``note`` says
    why.

    >>> majority_class(["yes", "no", "no"])["answer"]
    'no'
    >>> majority_class(["3", "4"], applicable=False)["accuracy"] is None
    True
    """
    if not gold:
        raise ValueError("majority class of no answers")
    if not applicable:
        return {"answer": None, "count": None, "n": len(gold), "accuracy": None, "ci": None,
                "ci_method": None, "note": FREE_FORM_MAJORITY}
    counts: dict[str, int] = {}
    for g in gold:
        counts[g] = counts.get(g, 0) + 1
    answer = min(counts, key=lambda a: (-counts[a], a))
    lo, hi = wilson_interval(counts[answer], len(gold))
    return {"answer": answer, "count": counts[answer], "n": len(gold),
            "accuracy": counts[answer] / len(gold), "ci": [lo, hi], "ci_method": "wilson"}


def accuracy_summary(per_seed: Sequence[Sequence[bool]], seed_dependent: bool,
                     b: int = DEFAULT_B, seed: int = 0,
                     level: float = DEFAULT_LEVEL) -> dict[str, Any]:
    """Table 1's numbers for one method on one task from its per-seed right/wrong vectors.

    mean and sample std of the per-seed accuracies; ``ci``: the Wilson interval when the
    method gave one result (one seed, or seed-independent: greedy with the same prompt),
    otherwise the percentile bootstrap over questions of the seed-averaged accuracy (each
    question's share of seeds answered right, resampled B times).
    """
    if not per_seed or any(len(c) != len(per_seed[0]) for c in per_seed) or not per_seed[0]:
        raise ValueError("need at least one seed and equally many (>= 1) questions per seed")
    accs = [sum(c) / len(c) for c in per_seed]
    m = sum(accs) / len(accs)
    std = (math.sqrt(sum((a - m) ** 2 for a in accs) / (len(accs) - 1))
           if len(accs) > 1 else 0.0)
    wilson = [list(wilson_interval(sum(c), len(c))) for c in per_seed]
    if seed_dependent and len(per_seed) > 1:
        per_question = np.asarray(per_seed, dtype=float).mean(axis=0)
        ci, how = list(bootstrap_mean_ci(per_question, b, seed, level)), "bootstrap"
    else:
        ci, how = wilson[0], "wilson"
    return {"mean": m, "std": std, "seeds": len(accs), "per_seed": accs,
            "seed_dependent": bool(seed_dependent), "ci": ci, "ci_method": how,
            "wilson_per_seed": wilson}
