"""The claim readers of the critic's verification signal, worked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedback_data.tasks.spec import SpecError, parse_spec
from feedback_data.text.claims import (
    MISSING_SLOT,
    UNDECIDED,
    content_word_score,
    sport_slot_score,
    sport_slots,
    sports_named,
    verification_score,
)

VERIFIER = ["The answer is no because Sebastian Aho is an ice hockey player. The phrase "
            "\"scored a touchdown\" belongs to American football."]


def test_sports_named_reads_longest_names_first() -> None:
    assert sports_named("NFL and ice hockey") == [(0, ("football",)), (12, ("hockey",))]
    # "football" alone may be either; "American football" is one sport
    assert sports_named("a football player") == [(2, ("football", "soccer"))]
    assert sports_named("American football") == [(0, ("football",))]


def test_sport_slots_player_first_step_action_later_steps() -> None:
    assert sport_slots(["X is a hockey player.", "Touchdowns are NFL."]) == (
        ("hockey",), ("football",))
    assert sport_slots(["X plays.", "Touchdowns are NFL."]) == (None, ("football",))
    assert sport_slots([]) == (None, None)


@pytest.mark.parametrize(("chain", "expected"), [
    # both slots as the verifier: 1
    ("The answer is no because Sebastian Aho is a hockey player. A touchdown is in the NFL.",
     1.0),
    # the action's slot left out (missing fact): (1 + MISSING) / 2
    ("The answer is no because Sebastian Aho is a hockey player.", (1 + MISSING_SLOT) / 2),
    # the player's sport wrong, the action's right: (0 + 1) / 2
    ("The answer is yes because Sebastian Aho is a football player. Touchdowns are in "
     "American football.", 0.5),
    # 'football' alone may be soccer or American football: it matches American football
    ("The answer is no because Sebastian Aho is a hockey player. Touchdowns are football.",
     1.0),
])
def test_sport_slot_score_by_hand(chain: str, expected: float) -> None:
    assert sport_slot_score("Sebastian Aho scored a touchdown.", chain, VERIFIER) == \
        pytest.approx(expected)


def test_sport_slot_score_takes_the_verifiers_majority_and_skips_their_empty_slots() -> None:
    verifiers = ["The answer is yes because X is a baseball player.",
                 "The answer is yes because X is a baseball player.",
                 "The answer is yes because X is a hockey player."]
    # majority baseball; no verifier fills the action's slot, so only the player's counts
    assert sport_slot_score("", "The answer is yes because X is a baseball player. "
                                "Y is in hockey.", verifiers) == 1.0
    assert sport_slot_score("", "The answer is yes because X is a hockey player.",
                            verifiers) == 0.0
    # nothing the verifiers say can be compared: undecided
    assert sport_slot_score("", "The answer is yes because X is good.",
                            ["The answer is yes because X is good."]) == UNDECIDED


def test_content_word_score_is_mean_f1_outside_the_question() -> None:
    # chain words {liquid}; verifier 1 {liquid} -> F1 1; verifier 2 {ice, solid} -> 0
    score = content_word_score("Is water wet?", "The answer is yes because water is liquid.",
                               ["The answer is yes because water is a liquid.",
                                "The answer is no because ice is solid."])
    assert score == pytest.approx(0.5)
    # chain {rivers, long}, verifier {rivers, short, deep}: F1 = 2*1/(2+3) = 0.4
    assert content_word_score("Is the Nile?", "The answer is yes because rivers are long.",
                              ["The answer is yes because rivers are short and deep."]) == \
        pytest.approx(0.4)


def test_verification_score_names_the_reader_and_needs_verifiers() -> None:
    with pytest.raises(ValueError, match="unknown claim reader 'nope'"):
        verification_score("nope", "q", "c", ["v"])
    with pytest.raises(ValueError, match="at least one verifier chain"):
        verification_score("content_words", "q", "c", [])


def test_task_spec_claims_field(tmp_path: Path) -> None:
    from feedback_data.tasks.registry import get_task

    assert get_task("sports_understanding").claims == "sport_slots"
    assert get_task("strategyqa").claims == "content_words"
    data = tmp_path / "q.jsonl"
    data.write_text('{"question": "Is it?", "answer": "yes"}\n')
    raw = {"name": "mine", "loader": {"jsonl": str(data)}}
    assert parse_spec(raw).claims == "content_words"
    assert parse_spec({**raw, "claims": "sport_slots"}).claims == "sport_slots"
    with pytest.raises(SpecError, match="field 'claims': 'facts' is not a claim reader"):
        parse_spec({**raw, "claims": "facts"})
