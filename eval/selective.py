"""Selective prediction: what a calibrated critic is for.

A critic gives each chain a confidence, its P(no error). Answering only when that is at least
a threshold t trades coverage (the share of chains answered) for risk (the share of answered
chains whose final answer is wrong against the gold answer). The risk-coverage curve has one
point per threshold; its area (AURC, lower is better) sums it up, and the coverage at 90%
accuracy says how much a user can answer while keeping nine in ten right.

Ties: a threshold answers every chain whose score is at least t, so chains with the same
score are answered together or not at all, never in an arbitrary order. The curve therefore
has one point per DISTINCT score (taken from the highest down), and AURC is the area under
that step curve: sum over the points of (coverage gained) x (risk at that point). Without ties
this is the usual (1/n) * sum over i of the risk of the i most confident chains. For reference
the summary also gives the risk of answering everything (what any critic reaches at full
coverage) and the AURC of the best possible order (every right chain first).

All functions are pure and take plain lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

TARGET_ACCURACY = 0.9
_EPS = 1e-12


@dataclass(frozen=True)
class Point:
    """Answer the chains whose score is >= ``threshold``."""

    threshold: float
    answered: int
    wrong: int
    coverage: float
    risk: float


def risk_coverage(scores: Sequence[float], correct: Sequence[bool]) -> list[Point]:
    """One point per distinct score, from the highest threshold to the lowest.

    >>> [(p.threshold, p.answered, p.wrong) for p in risk_coverage([0.9, 0.2, 0.9, 0.5],
    ...                                                            [True, False, False, True])]
    [(0.9, 2, 1), (0.5, 3, 1), (0.2, 4, 2)]
    """
    if len(scores) != len(correct):
        raise ValueError(f"{len(scores)} scores but {len(correct)} correctness flags")
    n = len(scores)
    order = sorted(range(n), key=lambda i: -scores[i])
    points: list[Point] = []
    answered = wrong = 0
    k = 0
    while k < n:
        t = scores[order[k]]
        while k < n and scores[order[k]] == t:
            answered += 1
            wrong += not correct[order[k]]
            k += 1
        points.append(Point(float(t), answered, wrong, answered / n, wrong / answered))
    return points


def aurc(points: Sequence[Point]) -> float | None:
    """Area under the step curve: sum of (coverage gained) x risk; None without points.

    >>> round(aurc(risk_coverage([0.9, 0.2, 0.9, 0.5], [True, False, False, True])), 4)
    0.4583
    """
    if not points:
        return None
    area, prev = 0.0, 0.0
    for p in points:
        area += (p.coverage - prev) * p.risk
        prev = p.coverage
    return area


def optimal_aurc(correct: Sequence[bool]) -> float | None:
    """The AURC of the best order: every right chain before any wrong one, no ties.

    >>> round(optimal_aurc([True, False, True, False]), 4)  # (0 + 0 + 1/3 + 2/4) / 4
    0.2083
    """
    n = len(correct)
    if not n:
        return None
    right = sum(bool(c) for c in correct)
    return sum(max(0, i - right) / i for i in range(1, n + 1)) / n


def coverage_at_accuracy(points: Sequence[Point], target: float = TARGET_ACCURACY
                         ) -> Point | None:
    """The point with the largest coverage whose accuracy (1 - risk) is at least ``target``;
    None when no threshold reaches it.

    >>> coverage_at_accuracy(risk_coverage([0.9, 0.8, 0.1], [True, True, False]), 0.9).coverage
    0.6666666666666666
    """
    ok = [p for p in points if (p.answered - p.wrong) - target * p.answered >= -_EPS]
    return max(ok, key=lambda p: p.coverage) if ok else None


def selective_summary(scores: Sequence[float], correct: Sequence[bool],
                      target: float = TARGET_ACCURACY) -> dict[str, Any]:
    """Everything report.json keeps about one critic on one set of chains."""
    points = risk_coverage(scores, correct)
    best = coverage_at_accuracy(points, target)
    n = len(scores)
    area = aurc(points)
    return {**against_random(area, optimal_aurc(correct),
                             (sum(not c for c in correct) / n) if n else None),
        "n": n,
        "score": "P(no error)",
        "risk": "share of answered chains whose final answer is wrong against gold",
        "ties": "chains with the same score are answered together (one point per distinct "
                "score)",
        "aurc": aurc(points),
        "aurc_optimal": optimal_aurc(correct),
        "risk_at_full_coverage": (sum(not c for c in correct) / n) if n else None,
        "target_accuracy": target,
        "coverage_at_target": best.coverage if best else 0.0,
        "threshold_at_target": best.threshold if best else None,
        "points": [asdict(p) for p in points],
    }


def against_random(area: float | None, optimal: float | None,
                   random: float | None) -> dict[str, Any]:
    """AURC against random order (whose expected AURC is the full-coverage risk) and against
    the oracle order: ``aurc_minus_random`` (< 0: the critic orders better than random),
    ``worse_than_random`` (AURC above the full-coverage risk), and ``excess_aurc``, the
    share of the gap from the oracle to random that remains: (AURC - optimal) / (random -
    optimal), 0 for the oracle, 1 for random order, above 1 worse than random (None when
    every chain is right or every one wrong: the two orders are the same).

    >>> against_random(0.3, 0.1, 0.4)["excess_aurc"]
    0.6666666666666666
    """
    if area is None or optimal is None or random is None:
        return {"aurc_random": random, "aurc_minus_random": None, "worse_than_random": None,
                "excess_aurc": None}
    gap = random - optimal
    return {"aurc_random": random, "aurc_minus_random": area - random,
            "worse_than_random": area > random + _EPS,
            "excess_aurc": (area - optimal) / gap if gap > _EPS else None}


def selective_from_records(records: Sequence[dict[str, Any]], right: dict[str, bool],
                           target: float = TARGET_ACCURACY) -> dict[str, Any]:
    """:func:`selective_summary` over a calibration entry's records (``feedback_id``,
    ``p_no_error``), with ``right[feedback_id]`` whether that chain's answer is the gold one."""
    missing = [r["feedback_id"] for r in records if r["feedback_id"] not in right]
    if missing:
        raise ValueError(f"no gold comparison for record {missing[0]}")
    return selective_summary([r["p_no_error"] for r in records],
                             [right[r["feedback_id"]] for r in records], target)


def chain_is_right(items: Sequence[Any]) -> dict[str, bool]:
    """feedback id -> the reviewed chain's final answer equals the gold answer (FeedbackItems;
    an unreadable answer is wrong)."""
    from feedback_data.text.answers import answers_match

    return {i.feedback.id: i.chain.answer is not None and i.example.answer is not None
            and answers_match(i.example, i.chain.answer, i.example.answer) for i in items}


def add_selective(cal: dict[str, Any], items: Sequence[Any],
                  target: float = TARGET_ACCURACY) -> dict[str, Any]:
    """Put the selective-prediction summary of one calibration entry (the dict
    :func:`eval.calibration.calibrate` returns, records still in it) under "selective"."""
    cal["selective"] = selective_from_records(cal["records"], chain_is_right(items), target)
    return cal


def own_answer_probabilities(model: Any, examples: Sequence[Any],
                             predictions: Sequence[Any], batch_size: int | None = None
                             ) -> list[float]:
    """The model's P(no error) of each of its own greedy dev chains under the error-types
    instruction (one ``score_choices`` pass,
    :func:`feedback_data.text.critic_labels.no_error_probabilities`)."""
    from feedback_data.text.critic_labels import no_error_probabilities
    from feedback_data.text.instructions import error_types_prompt

    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")
    # the model's own chains, already in the order it writes them
    prompts = [error_types_prompt(ex.question, p.text) for ex, p in zip(examples, predictions,
                                                                          strict=True)]
    return no_error_probabilities(model, prompts, batch_size=batch_size)


def dev_selective(model: Any, examples: Sequence[Any], predictions: Sequence[Any], *,
                  batch_size: int | None = None, target: float = TARGET_ACCURACY,
                  probs: Sequence[float] | None = None) -> dict[str, Any]:
    """The multitask model judging its own greedy dev answers: each prediction's chain scored
    by the model's P(no error) (:func:`own_answer_probabilities`, or ``probs`` when given),
    right = its answer is the gold one."""
    if probs is None:
        probs = own_answer_probabilities(model, examples, predictions, batch_size)
    from feedback_data.text.answers import answers_match

    right = [p.answer is not None and answers_match(ex, p.answer, ex.answer)
             for ex, p in zip(examples, predictions, strict=True)]
    return {"model": getattr(model, "name", None), "method": "multitask (greedy)",
            **selective_summary(probs, right, target)}
