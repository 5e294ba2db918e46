"""The critic's full label set and P(no error), against hand-worked log-probabilities."""

from __future__ import annotations

import math

import pytest

from feedback_data.text.critic_labels import (
    ERROR_LABELS,
    LABEL_CODES,
    argmax_label,
    label_probabilities,
    no_error_probabilities,
    no_error_probability,
)
from feedback_data.text.instructions import error_types_text, parse_error_types_text


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


# --- scoring options and temperature (issue 33, item 3) --------------------------------------

from feedback_data.text.critic_labels import (  # noqa: E402
    CriticReading,
    binary_nll,
    first_token_scores,
    fit_temperature,
    label_scores,
    load_reading,
    read_scores,
    reading_of,
    write_reading,
)


def test_length_normalised_scoring_does_not_punish_a_long_label():
    """'no error' 5 tokens summing to -5.0 (mean -1.0) against 'missing facts', 3 tokens
    summing to -4.5 (mean -1.5). Summed: P(no error) = 1 / (1 + e^0.5) = 0.3775; per token:
    1 / (1 + e^-0.5) = 0.6225."""
    tokens = [[-1.0] * 5, [-1.5] * 3]
    assert no_error_probability(label_scores(tokens, "sum")) == pytest.approx(0.377541, abs=1e-6)
    assert no_error_probability(label_scores(tokens, "mean")) == pytest.approx(0.622459,
                                                                               abs=1e-6)


def test_first_token_scoring_counts_a_shared_first_token_once():
    """First tokens 7, 8, 8 with log-probs -1, -2, -2: the third label shares the second's
    token, so P(no error) = e^-1 / (e^-1 + e^-2) = 1 / (1 + e^-1) = 0.7311 (not 0.5761)."""
    tokens = [[-1.0, -5.0], [-2.0, -1.0], [-2.0, -3.0]]
    scores = read_scores(tokens, [7, 8, 8], "first_token")
    assert scores == first_token_scores(tokens, [7, 8, 8]) == [-1.0, -2.0, -math.inf]
    assert no_error_probability(scores) == pytest.approx(0.731059, abs=1e-6)


def test_temperature_divides_the_scores():
    """[0, ln 3] at T = 2: softmax([0, ln 3 / 2]) = 1 / (1 + sqrt 3) = 0.3660."""
    assert no_error_probability([0.0, math.log(3.0)], 2.0) == pytest.approx(0.366025, abs=1e-6)
    with pytest.raises(ValueError):
        no_error_probability([0.0, 1.0], 0.0)


def test_fit_temperature_recovers_the_maximum_likelihood_temperature():
    """Four records with scores [ln 9, 0] (P = 0.9 at T 1), three without error: the NLL is
    least at P = 0.75, i.e. 9^(1/T) = 3, T = 2."""
    rows = [[math.log(9.0), 0.0]] * 4
    gold = [True, True, True, False]
    assert fit_temperature(rows, gold, grid=[0.5, 1.0, 2.0, 4.0]) == 2.0
    assert fit_temperature(rows, gold) == pytest.approx(2.0, rel=0.04)
    assert binary_nll([0.75] * 4, gold) == pytest.approx(-(3 * math.log(0.75) + math.log(0.25))
                                                         / 4)
    assert fit_temperature([], []) == 1.0


def test_the_reading_is_stored_next_to_the_weights_and_applied(tmp_path):
    write_reading(tmp_path, CriticReading("mean", 2.0), {"fitted_on": "validation"})
    assert load_reading(tmp_path) == CriticReading("mean", 2.0)
    assert load_reading(tmp_path / "none") == CriticReading()

    class Tok:
        def __call__(self, text_target):
            return {"input_ids": [[0] * (2 if i == 0 else 1) for i, _ in enumerate(text_target)]}

    class Scorer:
        info = {"path": str(tmp_path)}
        tokenizer = Tok()

        def score_choices(self, prompts, choices, batch_size=None):
            # 'no error' (2 tokens) sums to -2, every other label (1 token) to -2 as well
            return [[-2.0] * len(choices) for _ in prompts]

    assert reading_of(Scorer()) == CriticReading("mean", 2.0)
    # mean: 'no error' -1, the 15 others -2; at T 2: e^-0.5 / (e^-0.5 + 15 e^-1)
    want = math.exp(-0.5) / (math.exp(-0.5) + 15 * math.exp(-1.0))
    assert no_error_probabilities(Scorer(), ["p"]) == pytest.approx([want])
    assert no_error_probabilities(Scorer(), ["p"], reading=CriticReading()) == pytest.approx(
        [1 / 16])
    with pytest.raises(ValueError):
        CriticReading("tokens")  # type: ignore[arg-type]


# --- single-token label words (issue 33, item 3) ----------------------------------------------

WORDS = ("correct", "fact", "missing", "irrelevant", "conflict")


def test_label_words_give_the_same_sixteen_classes_in_the_same_order():
    from feedback_data.text.critic_labels import label_set

    labels = label_set(WORDS)
    assert len(set(labels)) == 16 and labels[:5] == WORDS
    assert labels[-1] == "fact, missing, irrelevant, conflict"
    for label, codes in zip(labels, LABEL_CODES, strict=True):
        assert error_types_text(list(codes), WORDS) == label
        assert parse_error_types_text(label, WORDS) == list(codes)
    # a critic on words still reads a label text it writes, and neither gives None
    assert parse_error_types_text("missing facts", WORDS) == ["MF"]
    assert parse_error_types_text("the facts conflicted", WORDS) is None
    assert parse_error_types_text("conflict, correct", WORDS) == ["LI"]


def test_a_critic_on_label_words_is_scored_over_its_words(tmp_path):
    """critic.json's label_words make every reader ask for the word labels; P(no error) at
    T 2 over two hand-worked scores: softmax([log .6, log .2] / 2)[0] = sqrt(.6) /
    (sqrt(.6) + sqrt(.2)) (the other 14 labels at -inf)."""
    write_reading(tmp_path, CriticReading("sum", 2.0, WORDS), {"fitted_on": "validation"})
    assert load_reading(tmp_path).label_words == WORDS
    calls = []

    class Scorer:
        info = {"path": str(tmp_path)}

        def score_choices(self, prompts, choices, batch_size=None):
            calls.append(list(choices))
            return [[math.log(0.6), math.log(0.2)] + [-math.inf] * 14 for _ in prompts]

    from feedback_data.text.critic_labels import label_set

    got = no_error_probabilities(Scorer(), ["p"])
    assert calls == [list(label_set(WORDS))]
    assert got[0] == pytest.approx(math.sqrt(0.6) / (math.sqrt(0.6) + math.sqrt(0.2)))


def test_bad_label_words_are_refused_naming_the_file(tmp_path):
    import json

    (tmp_path / "critic.json").write_text(json.dumps(
        {"scoring": "sum", "temperature": 1.0, "label_words": ["correct", "fact"]}))
    with pytest.raises(ValueError, match=r"critic.json: label words: expected 5"):
        load_reading(tmp_path)
    with pytest.raises(ValueError, match="its own word"):
        CriticReading(label_words=("a", "a", "b", "c", "d"))


def test_the_default_label_words_are_single_tokens_in_the_shipped_tokenizer():
    from pathlib import Path

    from transformers import AutoTokenizer

    from feedback_data.text.critic_labels import single_token_problems
    from feedback_data.text.instructions import DEFAULT_LABEL_WORDS

    root = Path(__file__).resolve().parents[2]
    tok = AutoTokenizer.from_pretrained(root / "models" / "tiny-base")
    assert single_token_problems(tok, DEFAULT_LABEL_WORDS, encoder_decoder=True) == []
    problems = single_token_problems(tok, ["none", "fact"], encoder_decoder=True)
    assert problems == ["'none' is 2 tokens ['Ġn', 'one']"]


def test_the_worked_examples_in_the_label_modules_hold():
    """The docstrings' examples (label words written, parsed and rewritten; the scorings)."""
    import doctest

    import feedback_data.text.critic_labels
    import feedback_data.text.instructions
    import training.data.critic_pairs

    for module in (feedback_data.text.critic_labels, feedback_data.text.instructions,
                   training.data.critic_pairs):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
