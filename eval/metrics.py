"""Metrics as pure functions: accuracy (through `evaluate`), mean/std, AUROC, ECE, reliability.

``evaluate.load("accuracy")`` fetches its script from the Hugging Face Hub, which is not
reachable offline, so accuracy is an ``evaluate.Metric`` defined here: the same package API
(``compute(predictions=..., references=...)``) with no download.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

ANSWER_IDS = {"yes": 1, "no": 0}


@lru_cache(maxsize=1)
def _accuracy_metric():
    import datasets
    import evaluate

    class Accuracy(evaluate.Metric):
        """Share of predictions equal to their reference (an offline `evaluate` metric)."""

        def _info(self) -> evaluate.MetricInfo:
            return evaluate.MetricInfo(
                description="Accuracy: correct predictions / all predictions.",
                citation="", inputs_description="predictions, references: lists of ints",
                features=datasets.Features({"predictions": datasets.Value("int32"),
                                            "references": datasets.Value("int32")}))

        def _compute(self, predictions: list[int], references: list[int]) -> dict[str, float]:
            hits = sum(int(p == r) for p, r in zip(predictions, references, strict=True))
            return {"accuracy": hits / len(references)}

    return Accuracy()


def accuracy(predictions: Sequence[str | None], references: Sequence[str]) -> float:
    """Answer accuracy; an unparsed prediction (None) counts as wrong. Answers are the
    normalized strings of any answer type (yes/no, an option's letter, a number, a text).

    >>> accuracy(["yes", None, "no", "no"], ["yes", "yes", "no", "yes"])
    0.5
    >>> accuracy(["B", "3", "C"], ["B", "3", "A"])
    0.6666666666666666
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not references:
        raise ValueError("accuracy of an empty set")
    if any(r is None for r in references):
        raise ValueError("accuracy needs a gold answer for every question")
    ids = dict(ANSWER_IDS)
    for r in references:
        ids.setdefault(r, len(ids))
    preds = [ids.get(p, -1) if p is not None else -1 for p in predictions]
    refs = [ids[r] for r in references]
    return float(_accuracy_metric().compute(predictions=preds, references=refs)["accuracy"])


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1); the std of one value is 0.

    >>> mean_std([1.0, 2.0, 3.0])
    (2.0, 1.0)
    """
    if not values:
        raise ValueError("mean of no values")
    m = sum(values) / len(values)
    if len(values) == 1:
        return m, 0.0
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def detection_accuracy(predicted_no_error: Sequence[bool | None],
                       gold_no_error: Sequence[bool]) -> float:
    """The paper's error-detection score: right when 'no error' meets an annotated None, or
    any error meets an annotated error. An unreadable prediction (None) is wrong."""
    if len(predicted_no_error) != len(gold_no_error) or not gold_no_error:
        raise ValueError("need equally many, and at least one, predictions and labels")
    hits = sum(p is not None and p == g for p, g in zip(predicted_no_error, gold_no_error,
                                                       strict=True))
    return hits / len(gold_no_error)


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties 1/2.

    None when only one class is present (the area is undefined).
    """
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} scores but {len(labels)} labels")
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    # Mann-Whitney U with average ranks for ties.
    ranked = sorted((s, y) for s, y in zip(scores, labels, strict=True))
    rank_sum = 0.0
    i = 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        avg_rank = (i + 1 + j) / 2
        rank_sum += avg_rank * sum(1 for _, y in ranked[i:j] if y)
        i = j
    u = rank_sum - len(pos) * (len(pos) + 1) / 2
    return u / (len(pos) * len(neg))


def reliability_bins(probs: Sequence[float], labels: Sequence[bool],
                     bins: int = 10) -> list[dict[str, float]]:
    """Equal-width bins over [0, 1] of the predicted probability (1.0 falls in the last).

    Each bin: lo, hi, count, mean predicted probability, observed frequency of the event.
    """
    if len(probs) != len(labels):
        raise ValueError(f"{len(probs)} probabilities but {len(labels)} labels")
    out = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [(p, y) for p, y in zip(probs, labels, strict=True)
                   if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        n = len(members)
        out.append({"lo": lo, "hi": hi, "count": n,
                    "mean_prob": sum(p for p, _ in members) / n if n else 0.0,
                    "frequency": sum(1 for _, y in members if y) / n if n else 0.0})
    return out


def expected_calibration_error(probs: Sequence[float], labels: Sequence[bool],
                               bins: int = 10) -> float:
    """ECE = sum over equal-width bins of |bin| / N * |frequency - mean probability|."""
    if not probs:
        raise ValueError("ECE of an empty set")
    return sum(b["count"] / len(probs) * abs(b["frequency"] - b["mean_prob"])
               for b in reliability_bins(probs, labels, bins))


def ece_if_calibrated(probs: Sequence[float], bins: int = 10, draws: int = 2000,
                      seed: int = 0) -> dict[str, float]:
    """The ECE a perfectly calibrated scorer with these probabilities gets on this many
    records, from sampling alone: labels drawn as y ~ Bernoulli(p) ``draws`` times (seeded),
    the ECE of each draw; its mean and 95th percentile. A measured ECE near the mean is what
    calibration can reach on a set of that size; one above the 95th percentile is
    miscalibration.

    >>> ece_if_calibrated([0.0, 1.0, 1.0])  # certain and right: no sampling error
    {'mean': 0.0, 'q95': 0.0}
    """
    import random

    if not probs:
        raise ValueError("ECE of an empty set")
    rng = random.Random(seed)
    values = sorted(expected_calibration_error(list(probs), [rng.random() < p for p in probs],
                                               bins) for _ in range(draws))
    return {"mean": sum(values) / draws, "q95": values[min(draws - 1, int(0.95 * draws))]}


def base_rate_gap(probs: Sequence[float], labels: Sequence[bool]) -> float:
    """|mean P − share of positive labels|: a lower bound on the binned ECE, whatever the bins
    (the ECE is a weighted sum of per-bin |mean P − share|, and the absolute value of a sum
    is at most the sum of the absolute values). A scorer whose mean P is another set's base
    rate cannot calibrate below it.

    >>> base_rate_gap([0.2, 0.2, 0.2, 0.2], [True, True, False, False])
    0.3
    """
    if len(probs) != len(labels) or not probs:
        raise ValueError(f"{len(probs)} probabilities and {len(labels)} labels: need as many, "
                         ">= 1")
    return round(abs(sum(probs) / len(probs) - sum(map(bool, labels)) / len(labels)), 12)


def choose_threshold(scores: Sequence[float], no_error: Sequence[bool]) -> dict[str, float]:
    """τ for "rewrite only when P(no error) < τ", chosen on validation records: the τ whose
    decision (error when P < τ) has the highest balanced accuracy (mean of the recall on
    error records and on error-free ones), so a critic that says 'error' everywhere scores
    0.5 however skewed the labels. Candidates: each distinct score (keeping the chains at or
    above it) and 1 + max (rewriting everything). Ties go to the smallest τ (fewest
    rewrites). Needs both classes.

    >>> choose_threshold([0.9, 0.6, 0.4, 0.1], [True, True, False, False])["tau"]
    0.6
    """
    if len(scores) != len(no_error) or not scores:
        raise ValueError(f"{len(scores)} scores and {len(no_error)} labels: need as many, >= 1")
    pos = sum(bool(y) for y in no_error)
    neg = len(no_error) - pos
    if not pos or not neg:
        raise ValueError("choosing τ needs validation records with and without error")
    best: dict[str, float] | None = None
    for tau in sorted({float(s) for s in scores} | {max(scores) + 1.0}):
        kept_right = sum(1 for s, y in zip(scores, no_error, strict=True) if s >= tau and y)
        caught = sum(1 for s, y in zip(scores, no_error, strict=True) if s < tau and not y)
        balanced = (kept_right / pos + caught / neg) / 2
        if best is None or balanced > best["balanced_accuracy"] + 1e-12:
            best = {"tau": tau, "balanced_accuracy": balanced,
                    "rewritten_share": sum(s < tau for s in scores) / len(scores)}
    assert best is not None
    return best


def round_flips(right_by_round: Sequence[Sequence[bool]]) -> list[dict[str, int]]:
    """Per refinement round r (1-based): how many examples ran it, and how many answers it
    flipped right -> wrong and wrong -> right. ``right_by_round[i]`` is example i's
    [c_0 right, c_1 right, ...], one entry per chain (the start and each round it ran).

    >>> round_flips([[True, False, False], [False, True], [True]])
    [{'round': 1, 'ran': 2, 'right_to_wrong': 1, 'wrong_to_right': 1}, \
{'round': 2, 'ran': 1, 'right_to_wrong': 0, 'wrong_to_right': 0}]
    """
    depth = max((len(r) for r in right_by_round), default=1) - 1
    out = []
    for r in range(1, depth + 1):
        ran = [x for x in right_by_round if len(x) > r]
        out.append({"round": r, "ran": len(ran),
                    "right_to_wrong": sum(1 for x in ran if x[r - 1] and not x[r]),
                    "wrong_to_right": sum(1 for x in ran if not x[r - 1] and x[r])})
    return out
