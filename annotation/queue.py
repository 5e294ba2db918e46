"""The order in which chains reach annotators, and gold tasks mixed into that order.

Label Studio's community edition serves tasks sequentially (by task id, i.e. import order) or
at random; so the order is decided here, before import. ``uncertainty`` puts first the chains
whose critic P(no error) is closest to 0.5; the scores come from outside (the model lives in
inference, which annotation must not import). Gold chains (labels known, e.g. the paper's) are
spread through the queue at a configured rate; their labels never reach Label Studio, so a
gold task looks like any other.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from pathlib import Path

from feedback_data.errors import DataError
from feedback_data.records.jsonl import iter_json_lines, write_records
from feedback_data.records.schema import Chain

ORDERS = ("given", "random", "uncertainty")


def read_scores(path: str | Path) -> dict[str, float]:
    """``{"chain_id": ..., "p_no_error": ...}`` lines -> chain id -> P(no error)."""
    out: dict[str, float] = {}
    for lineno, obj in iter_json_lines(path):
        cid, p = obj.get("chain_id"), obj.get("p_no_error")
        if not isinstance(cid, str) or isinstance(p, bool) or not isinstance(p, int | float) \
                or not (math.isfinite(p) and 0.0 <= p <= 1.0):
            raise DataError(f"{path}:{lineno}: expected 'chain_id' (string) and 'p_no_error' "
                            "(a probability)")
        out[cid] = float(p)
    return out


def write_scores(path: str | Path, scores: Mapping[str, float]) -> int:
    """Write what :func:`read_scores` reads (atomically: a temporary file, then renamed)."""
    return write_records(path, [{"chain_id": cid, "p_no_error": p} for cid, p in scores.items()])


def order_chains(chains: Sequence[Chain], order: str, *, scores: Mapping[str, float] | None = None,
                 seed: int = 0) -> list[Chain]:
    """``chains`` in annotation order: as given, shuffled, or most uncertain first."""
    if order == "given":
        return list(chains)
    if order == "random":
        out = list(chains)
        random.Random(seed).shuffle(out)
        return out
    if order == "uncertainty":
        if scores is None:
            raise ValueError("--order uncertainty needs critic scores (P(no error) per chain): "
                             "--model M or --scores FILE")
        missing = [c.id for c in chains if c.id not in scores]
        if missing:
            raise DataError(f"no critic score for {len(missing)} chains (first: {missing[0]})")
        # Stable: ties keep the given order.
        return sorted(chains, key=lambda c: abs(scores[c.id] - 0.5))
    raise ValueError(f"unknown order {order!r}; expected one of {', '.join(ORDERS)}")


def mix_gold(chains: Sequence[Chain], gold: Sequence[Chain], rate: float,
             seed: int = 0) -> list[Chain]:
    """``chains`` with gold chains spread through them so that about ``rate`` of the queue is
    gold (as many gold chains as that needs, at most all of them; each used once).

    Gold position k of n sits in the k-th of n equal stretches of the queue, at a random
    place within it, so gold tasks come at a steady rate without a visible period.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"gold rate must be in [0, 1), got {rate}")
    regular = [c for c in chains if c.id not in {g.id for g in gold}]
    n_gold = min(len(gold), round(rate * len(regular) / (1.0 - rate)))
    if n_gold == 0:
        return list(regular)
    rng = random.Random(seed)
    picked = rng.sample(list(gold), n_gold)
    total = len(regular) + n_gold
    positions: list[int] = []
    for k in range(n_gold):  # strictly increasing, and room left for the gold after it
        pos = int((k + rng.random()) * total / n_gold)
        positions.append(min(max(pos, positions[-1] + 1 if positions else 0),
                             total - (n_gold - k)))
    out: list[Chain] = []
    it_regular, it_gold = iter(regular), iter(picked)
    gold_at = set(positions)
    for i in range(total):
        out.append(next(it_gold) if i in gold_at else next(it_regular))
    return out
