"""The critic's closed label set and P(no error): the one place every caller reads them.

The error-types instruction trains a model to write 'no error' or the canonical text of the
error types a chain has, e.g. 'factual error, missing facts' (``error_types_text``). A
record may carry several types (about a quarter of the paper's erroneous records do), so the
labels a model can write are 'no error' plus every non-empty combination of the four types:
1 + 15 = 16 texts. Scoring only the five single labels would leave every multi-type label
unscored, and with it the probability mass the model puts there.

P(no error) is the softmax of the sixteen complete-sequence log-probabilities, read at 'no
error' (index 0). The argmax label decides wsc's weight. Calibration, wsc, wsc_soft, the
annotation queue, the ML backend and validation during training all call
:func:`no_error_probabilities` or :func:`no_error_probability` from here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Protocol

from feedback_data.instructions import NO_ERROR, error_types_text
from feedback_data.schema import ERROR_CODES


def _label_set() -> tuple[str, ...]:
    combos = [list(c) for size in range(1, len(ERROR_CODES) + 1)
              for c in combinations(ERROR_CODES, size)]
    return (NO_ERROR, *(error_types_text(c) for c in combos))


# 'no error' first, then the single types, pairs, triples and all four, in canonical order.
ERROR_LABELS: tuple[str, ...] = _label_set()
# The codes of each label, in the same order ([] for 'no error').
LABEL_CODES: tuple[tuple[str, ...], ...] = (
    (), *(c for size in range(1, len(ERROR_CODES) + 1) for c in combinations(ERROR_CODES, size)))


class ChoiceScorer(Protocol):
    """Anything that scores fixed choices: log p(choice | prompt) per prompt and choice."""

    def score_choices(self, prompts: list[str], choices: list[str],
                      batch_size: int | None = None) -> list[list[float]]: ...


def label_probabilities(logps: Sequence[float]) -> list[float]:
    """Softmax of the labels' log-probabilities, computed stably.

    >>> [round(p, 3) for p in label_probabilities([0.0, 0.0, math.log(2.0)])]
    [0.25, 0.25, 0.5]
    """
    top = max(logps)
    exps = [math.exp(x - top) for x in logps]
    total = sum(exps)
    return [e / total for e in exps]


def no_error_probability(logps: Sequence[float]) -> float:
    """P('no error'): the first label's share of the softmax over every label scored."""
    return label_probabilities(logps)[0]


def argmax_label(logps: Sequence[float]) -> int:
    """Index of the most probable label; a tie goes to the earlier label ('no error' first)."""
    return max(range(len(logps)), key=lambda i: (logps[i], -i))


def no_error_probabilities(scorer: ChoiceScorer, prompts: list[str],
                           batch_size: int | None = None) -> list[float]:
    """P('no error') for each error-types prompt, over the full :data:`ERROR_LABELS`."""
    if not prompts:
        return []
    rows = scorer.score_choices(prompts, list(ERROR_LABELS), batch_size=batch_size)
    return [no_error_probability(row) for row in rows]
