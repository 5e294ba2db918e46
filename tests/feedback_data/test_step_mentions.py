"""The step-mention parser: every phrasing it reads, every one it refuses, and the policy that
combines the error types' descriptions (hand-worked cases)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feedback_data.text.step_mentions import (
    LAST,
    content_words,
    first_wrong_from_description,
    named_step_mismatch,
    parse_step_mentions,
    split_description_text,
    steps_from_descriptions,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text, steps", [
    ("In step 1 the fact states that X.", {1}),
    ("In Step 2, the explanation says Y.", {2}),
    ("Step 3: the fact is wrong.", {3}),
    ("in step:2, the explanation", {2}),
    ("step #2 is off", {2}),
    ("step no. 2 says", {2}),
    ("Explanations are given in step two.", {2}),
    ("Instep 1, fact implies X", {1}),
    ("In the step 1 explanation, it is said", {1}),
    ("In steps 1 and 2, the explanation does not mention Z.", {1, 2}),
    ("In step 1and 2, X", {1, 2}),
    ("In step 1 and step 2, the facts imply", {1, 2}),
    ("In steps 1, step 2 and step 3, the", {1, 2, 3}),
    ("In steps 1, 2, and 3, the", {1, 2, 3}),
    ("In step 1,2 and 3 explanation", {1, 2, 3}),
    ("In steps 1 & 2, the", {1, 2}),
    ("In steps 1,2,3,4,5, and 7, the facts", {1, 2, 3, 4, 5, 7}),
    ("In steps 1-3, the", {1, 2, 3}),
    ("implied in steps 1–3, so", {1, 2, 3}),
    ("In steps 1 to 3, the", {1, 2, 3}),
    ("In steps 2 through 4, the", {2, 3, 4}),
    ("In step 1, X. In step 3, Y.", {1, 3}),
    ("the first step is false", {1}),
    ("In the first step's explanation", {1}),
    ("the 2nd step says", {2}),
    ("the first and second steps say", {1, 2}),
    ("the last step says", {LAST}),
    ("the final step says", {LAST}),
    ("The 1 and 2 steps of the explanation", {1, 2}),
])
def test_phrasings_it_reads(text, steps):
    m = parse_step_mentions(text)
    assert m.ambiguous is None and set(m.steps) == steps


@pytest.mark.parametrize("text, why", [
    ("is not addressed in steps 1 or 2", "either_or"),
    ("In steps 1/2 the", "either_or"),
    ("a fact is missing after step 2", "not_the_named_step"),
    ("a fact is missing before step 2", "not_the_named_step"),
    ("between steps 1 and 2 a fact is missing", "not_the_named_step"),
    ("every fact except step 2 is wrong", "not_the_named_step"),
    ("facts other than step 2 are wrong", "not_the_named_step"),
    ("all but after the second step", "not_the_named_step"),
    ("The provided explanation in step 1 is correct . X is Y.", "named_step_is_right"),
    ("the first step is true", "named_step_is_right"),
    ("In 3 steps, the explanation", "step_count"),
    ("steps 3-1 are wrong", "descending_range"),
])
def test_phrasings_it_refuses(text, why):
    assert parse_step_mentions(text).ambiguous == why


@pytest.mark.parametrize("text", [
    "a side-step three is a basketball move",
    "Eurostepping is not a dance move; a stepover is a football trick",
    "The step is the fact that",
    "The explanation does not mention the distance.",
    "In the 2 step explanation, the weight is wrong.",  # a count or step 2: not read
])
def test_text_that_names_no_step(text):
    m = parse_step_mentions(text)
    assert m.ambiguous is None and not m.steps and not m.whole and not m.both


def test_whole_chain_and_both_steps():
    assert parse_step_mentions("All the steps mentioned are irrelevant.").whole
    assert parse_step_mentions("missing in the given steps").whole
    assert parse_step_mentions("every step is off").whole
    assert parse_step_mentions("both steps are about soccer").both
    three = ["A.", "B.", "C."]
    assert steps_from_descriptions({"FE": "All the steps are false."}, ["FE"],
                                   three).wrong == (0, 1, 2)
    assert steps_from_descriptions({"FE": "the last step is false"}, ["FE"],
                                   three).first_wrong == 2
    assert steps_from_descriptions({"FE": "both steps are false"}, ["FE"],
                                   ["A.", "B."]).wrong == (0, 1)
    assert steps_from_descriptions({"FE": "both steps are false"}, ["FE"],
                                   three).why == "both_steps_not_two"


CHAIN = ["Cats lay eggs.", "Mammals do not lay eggs.", "So cats are not mammals."]


def test_union_over_types_and_first_wrong_is_the_smallest():
    d = steps_from_descriptions({"FE": "In step 2, the fact is false.",
                                 "MF": "In steps 2 and 3, the explanation does not mention fur.",
                                 "LI": "In step 3, the facts imply the opposite."},
                                ["FE", "MF", "LI"], CHAIN)
    assert d.wrong == (1, 2) and d.first_wrong == 1 and d.why is None
    assert d.by_type == {"FE": (1,), "MF": (1, 2), "LI": (2,)}


def test_irrelevant_facts_are_neutral_unless_asked():
    reasons = {"FE": "In step 3, the conclusion is false.", "IR": "In step 1, X is irrelevant."}
    d = steps_from_descriptions(reasons, ["FE", "IR"], CHAIN)
    assert (d.wrong, d.neutral, d.first_wrong) == ((2,), (0,), 2)
    strict = steps_from_descriptions(reasons, ["FE", "IR"], CHAIN, neutral_is_correct=False)
    assert (strict.wrong, strict.first_wrong) == ((0, 2), 0)
    only_ir = steps_from_descriptions({"IR": "In step 2, X is irrelevant."}, ["IR"], CHAIN)
    assert only_ir.first_wrong is None and only_ir.why == "only_neutral_steps"
    assert only_ir.neutral == (1,)
    # an IR description without a step does not block the label (its steps are neutral) ...
    d = steps_from_descriptions({"FE": "In step 2, false.", "IR": "Irrelevant."}, ["FE", "IR"],
                                CHAIN)
    assert d.first_wrong == 1
    # ... but does when IR counts as wrong
    assert steps_from_descriptions({"FE": "In step 2, false.", "IR": "Irrelevant."},
                                   ["FE", "IR"], CHAIN, neutral_is_correct=False
                                   ).why == "description_without_step"


@pytest.mark.parametrize("reasons, types, why", [
    ({"FE": "In step 4, the fact is false."}, ["FE"], "described_step_out_of_range"),
    ({"FE": "In step 0, the fact is false."}, ["FE"], "described_step_out_of_range"),
    ({"FE": "In step 1, false.", "MF": "The explanation does not mention fur."}, ["FE", "MF"],
     "description_without_step"),
    ({"FE": "In step 1, false."}, ["FE", "MF"], "error_type_without_description"),
    ({"FE": "In steps 1 or 2, false."}, ["FE"], "ambiguous_step_mention:either_or"),
    ({"FE": "In step 1, false."}, [], "no_error_type"),
])
def test_records_that_get_no_label(reasons, types, why):
    d = steps_from_descriptions(reasons, types, CHAIN)
    assert d.first_wrong is None and d.why == why


def test_a_reason_for_an_unselected_type_is_ignored():
    d = steps_from_descriptions({"FE": "In step 2, false.", "LI": "In step 1, ..."}, ["FE"],
                                CHAIN)
    assert d.first_wrong == 1 and d.by_type == {"FE": (1,)}


def test_chain_without_steps():
    assert steps_from_descriptions({"FE": "In step 1"}, ["FE"], []).why == "chain_without_steps"


def test_a_numbering_slip_is_refused():
    chain = ["Manny Machado is a shortstop.",
             "Double plays are when a player hits the ball and the ball is caught by the "
             "fielder."]
    slip = "In step 1, double plays are not when a player hits the ball and it is caught."
    assert named_step_mismatch(slip, chain) == "step 1"
    assert steps_from_descriptions({"FE": slip}, ["FE"], chain).why == "named_step_mismatch"
    right = "In step 2, double plays are not when a player hits the ball and it is caught."
    assert named_step_mismatch(right, chain) is None
    assert steps_from_descriptions({"FE": right}, ["FE"], chain).first_wrong == 1
    # a description about something the chain does not say is never a mismatch
    assert named_step_mismatch("In step 1, the explanation does not mention the fielder's "
                               "glove size and weight.", chain) is None
    assert content_words("the fact states that Machado is wrong") == {"machado"}


def test_description_text_round_trip_and_critic_reading():
    from feedback_data.text.instructions import description_text

    reasons = {"FE": "In step 2, the fact is false.", "MF": "In step 3, fur is not mentioned."}
    text = description_text(reasons, ["FE", "MF"])
    assert split_description_text(text) == reasons
    assert first_wrong_from_description(text, CHAIN) == 1
    assert first_wrong_from_description("no error", CHAIN) == -1
    assert first_wrong_from_description("In step 3 the conclusion is wrong.", CHAIN) == 2
    assert first_wrong_from_description("Factual Error: the fact is false.", CHAIN) is None
    assert first_wrong_from_description("Factual Error: In step 9, x.", CHAIN) is None
    assert first_wrong_from_description("Irrelevant Facts: In step 1, x.", CHAIN) is None
    assert first_wrong_from_description("", CHAIN) is None


def test_the_hand_judged_sample_matches_the_parser():
    """docs/step_labels_sample.jsonl holds the verdicts on the parser's output; the parser may
    not change under them (a change means judging again). Needs the imported feedback."""
    from feedback_data.sources.paper_import import load_paper_feedback

    rows = [json.loads(line) for line in
            (ROOT / "docs" / "step_labels_sample.jsonl").read_text().splitlines()]
    assert len(rows) == 100 and {r["seed"] for r in rows} == {0, 1}
    by_id = {i.feedback.id: i for task, split in (("strategyqa", "train"),
                                                   ("strategyqa", "eval"),
                                                   ("sports_understanding", "train"))
             for i in load_paper_feedback(task, split)}
    for row in rows:
        item = by_id[row["id"]]
        d = steps_from_descriptions(item.feedback.reasons, item.feedback.error_types,
                                    item.chain.steps)
        assert [s + 1 for s in d.wrong] == row["wrong_steps"], row["id"]
        assert d.why == row["refused"], row["id"]
        assert row["verdict"] in ("correct", "wrong", "refused_right", "refused_missed")
