"""The critic's full label set and P(no error), against hand-worked log-probabilities."""

from __future__ import annotations

import math

import pytest

from feedback_data.critic_labels import (
    ERROR_LABELS,
    LABEL_CODES,
    argmax_label,
    label_probabilities,
    no_error_probabilities,
    no_error_probability,
)
from feedback_data.instructions import error_types_text, parse_error_types_text


def test_every_label_the_instruction_trains_is_scored():
    """'no error' and the 15 non-empty combinations of FE, MF, IR, LI, each the exact text
    the error-types target writes (error_types_text) and read back to its codes."""
    assert len(ERROR_LABELS) == len(set(ERROR_LABELS)) == 16
    assert ERROR_LABELS[0] == "no error"
    assert "factual error, missing facts" in ERROR_LABELS
    assert ERROR_LABELS[-1] == ("factual error, missing facts, irrelevant facts, "
                                "logical inconsistency")
    for label, codes in zip(ERROR_LABELS, LABEL_CODES, strict=True):
        assert error_types_text(list(codes)) == label
        assert parse_error_types_text(label) == list(codes)


def test_multi_type_mass_counts_against_no_error():
    """P: no error .3, factual error .25, 'factual error, missing facts' .45, the rest ~0.
    Over the five single labels P(no error) would be .3 / .55 = .545 and 'no error' the
    argmax; over all sixteen it is .3, and the two-type label is the argmax."""
    p = [1e-12] * 16
    p[0], p[1] = 0.3, 0.25
    combo = ERROR_LABELS.index("factual error, missing facts")
    p[combo] = 0.45
    logps = [math.log(x) for x in p]
    assert no_error_probability(logps) == pytest.approx(0.3, abs=1e-9)
    assert no_error_probability(logps[:5]) == pytest.approx(0.3 / 0.55, abs=1e-9)
    assert argmax_label(logps[:5]) == 0
    assert argmax_label(logps) == combo
    assert sum(label_probabilities(logps)) == pytest.approx(1.0)
    assert argmax_label([-1.0, -1.0]) == 0  # a tie goes to 'no error'


def test_one_function_scores_every_prompt_over_the_sixteen_labels():
    calls = []

    class Scorer:
        chain_order = "answer_first"

        def score_choices(self, prompts, choices, batch_size=None):
            calls.append((list(prompts), list(choices)))
            return [[math.log(0.5)] + [math.log(0.5 / 15)] * 15 for _ in prompts]

    assert no_error_probabilities(Scorer(), ["a", "b"]) == pytest.approx([0.5, 0.5])
    assert calls == [(["a", "b"], list(ERROR_LABELS))]
    assert no_error_probabilities(Scorer(), []) == []
