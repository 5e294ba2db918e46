"""Answer types: normalizers, reading an answer from a chain, the one comparison."""

from __future__ import annotations

import pytest

from feedback_data.records.schema import Example
from feedback_data.text.answers import (
    FORMAT_KEY,
    AnswerFormat,
    answers_match,
    normalize_answer,
    normalize_choice,
    normalize_number,
    normalize_text,
    options_from_question,
    parse_answer_chain,
    render_options,
)
from feedback_data.text.chain_format import parse_chain

OPTIONS = ["05/01/2021", "02/23/2021", "A dog"]


def mc() -> Example:
    question = f"What is the date today? {render_options(OPTIONS)}"
    return Example(id="t/1", task="t", question=question, answer="A",
                   meta={FORMAT_KEY: {"type": "multiple_choice"}, "options": OPTIONS})


def number(answer: str = "3", aliases: tuple[str, ...] = ()) -> Example:
    return Example(id="t/2", task="t", question="How many?", answer=answer,
                   meta={FORMAT_KEY: {"type": "free_form", "normalizer": "number"},
                         "aliases": list(aliases)})


@pytest.mark.parametrize("raw, want", [
    ("3", "3"), ("three", "3"), ("3.0", "3"), ("$1,000", "1000"), ("2.50", "2.5"),
    ("twenty-one apples", "21"), ("a hundred", "100"), ("-4 degrees", "-4"), ("none", None)])
def test_number_normalizer(raw, want):
    assert normalize_number(raw) == want


def test_text_normalizer_drops_case_punctuation_and_articles():
    assert normalize_text("The Eiffel  Tower.") == "eiffel tower"
    assert normalize_text("!!") is None


@pytest.mark.parametrize("raw, want", [
    ("B", "B"), ("(b)", "B"), ("B) 02/23/2021", "B"), ("05/01/2021", "A"), ("A dog", "C"),
    ("(C) A dog", "C"), ("(B) 05/01/2021", None), ("A cat", None), ("D", None), ("", None)])
def test_a_choice_is_named_by_letter_text_or_both(raw, want):
    assert normalize_choice(raw, OPTIONS) == want


def test_options_round_trip_through_the_question():
    assert options_from_question(mc().question) == OPTIONS
    assert options_from_question("Is water wet?") == []


def test_yes_no_chains_use_the_builtin_parser_exactly():
    ex = Example(id="s/1", task="strategyqa", question="Q?", answer="yes")
    for text in ("The answer is no because A is B. C is D.", "The answer is implausible.",
                 "nothing to read here. Really."):
        assert parse_answer_chain(text, ex) == parse_chain(text) == parse_answer_chain(text)


def test_multiple_choice_and_numeric_chains_in_both_orders():
    assert parse_answer_chain("The answer is (B) because it is two days. Then done.",
                              mc()) == ("B", ["it is two days.", "Then done."], True)
    assert parse_answer_chain("The answer is 05/01/2021.", mc()) == ("A", [], True)
    assert parse_answer_chain("A trumpet is one. So the answer is three.",
                              number()) == ("3", ["A trumpet is one."], True)
    assert parse_answer_chain("The answer is 2.5 because half.", number())[0] == "2.5"
    # no answer of the type: unparsed, the sentences kept as steps
    assert parse_answer_chain("The answer is banana because yes.", number()) == (
        None, ["The answer is banana because yes."], False)
    assert parse_answer_chain("I do not know.", mc()) == (None, ["I do not know."], False)


def test_a_custom_pattern_reads_the_answer():
    fmt = AnswerFormat("free_form", "number", pattern=r"total:\s*(?P<answer>\S+)")
    ex = number()
    ex.meta[FORMAT_KEY] = fmt.to_meta()
    assert parse_answer_chain("two and one. total: 3", ex) == ("3", ["two and one."], True)
    with pytest.raises(ValueError, match="named group 'answer'"):
        AnswerFormat("free_form", "number", pattern=r"total: (\d+)")


def test_answers_match_uses_the_gold_aliases():
    ex = number("3", aliases=("4",))  # e.g. a question with two accepted answers
    assert answers_match(ex, "4", "3") and answers_match(ex, "3", "3")
    assert not answers_match(ex, "5", "3")
    assert not answers_match(ex, None, "3") and not answers_match(ex, None, None)
    assert normalize_answer(True, Example(id="x", task="t", question="q")) == "yes"


def test_bad_formats_are_refused():
    with pytest.raises(ValueError, match="needs a normalizer"):
        AnswerFormat("free_form")
    with pytest.raises(ValueError, match="free_form answers only"):
        AnswerFormat("yes_no", normalizer="number")
    with pytest.raises(ValueError, match="answer type must be one of"):
        AnswerFormat("essay")


# Chains in BIG-Bench Hard's published CoT style (issue 31): "Let's think step by step. ...
# So the answer is X." with the answer written as people write it.
BBH_YES_NO = [
    ("Let's think step by step. (1) Take 1 step: (0, 1). (2) Take 1 step backward: (0, 0). "
     "So the answer is: no", "no"),
    ("Let's think step by step. not ( True ) = False. So the answer is False.", "no"),
    ("The answer is true because the statement holds.", "yes"),
    ("We end where we started. So the answer is 'Yes'.", "yes"),
]
BBH_CHOICE = [
    ("Let's think step by step. (B) is ironic. So the answer is (B).", "B"),
    ("The sarcastic option is the first. So the answer is A).", "A"),
    ("So the answer is: (A) red.", "A"),
    ("It is the second. So the answer is \"B\".", "B"),
]


@pytest.mark.parametrize(("text", "want"), BBH_YES_NO)
def test_bbh_style_yes_no_chains(text, want):
    from feedback_data.records.schema import Example
    from feedback_data.text.answers import FORMAT_KEY, parse_answer_chain

    ex = Example(id="t/1", task="t", question="q", meta={FORMAT_KEY: {"type": "yes_no"}})
    answer, steps, parsed = parse_answer_chain(text, ex)
    assert (answer, parsed) == (want, True)
    assert not any("answer is" in s for s in steps)


@pytest.mark.parametrize(("text", "want"), BBH_CHOICE)
def test_bbh_style_multiple_choice_chains(text, want):
    from feedback_data.records.schema import Example
    from feedback_data.text.answers import FORMAT_KEY, OPTIONS_KEY, parse_answer_chain

    ex = Example(id="t/1", task="t", question="q Options: (A) red (B) blue",
                 meta={FORMAT_KEY: {"type": "multiple_choice"}, OPTIONS_KEY: ["red", "blue"]})
    assert parse_answer_chain(text, ex)[0] == want


def test_bbh_style_free_form_trailing_period_and_quote():
    from feedback_data.records.schema import Example
    from feedback_data.text.answers import FORMAT_KEY, parse_answer_chain

    ex = Example(id="t/1", task="t", question="q",
                 meta={FORMAT_KEY: {"type": "free_form", "normalizer": "exact"}})
    for text in ("Sorted: gelatine, stick. So the answer is gelatine stick.",
                 'So the answer is "gelatine stick".', "So the answer is 'gelatine stick.'"):
        assert parse_answer_chain(text, ex)[0] == "gelatine stick"
