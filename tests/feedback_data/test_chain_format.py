from feedback_data.text.chain_format import format_chain, parse_chain, split_steps


def test_parse_released_format():
    answer, steps, parsed = parse_chain(
        "The answer is yes because The deepest point is 3,040 m. Nuno Gomes dove 318 m."
    )
    assert (answer, parsed) == ("yes", True)
    assert steps == ["The deepest point is 3,040 m.", "Nuno Gomes dove 318 m."]


def test_parse_plausible_maps_to_yes_no():
    assert parse_chain("The answer is implausible because X is a golfer.")[0] == "no"
    assert parse_chain("the answer is Plausible because X plays hockey.")[0] == "yes"


def test_parse_quirky_annotator_spellings():
    assert parse_chain('The answer is "no," because you can not.')[:2] == ("no", ["you can not."])
    assert parse_chain("he answer is yes, because leaves change.")[0] == "yes"


def test_unparseable_chain_is_kept_and_marked():
    answer, steps, parsed = parse_chain("Grapes are used in wine. They have sugar.")
    assert answer is None and parsed is False
    assert steps == ["Grapes are used in wine.", "They have sugar."]


def test_abbreviations_do_not_split_steps():
    assert split_steps("The U.S. Secretary works. Mr. Smith went home.") == [
        "The U.S. Secretary works.", "Mr. Smith went home."]


def test_format_then_parse_round_trip():
    text = format_chain("no", ["Ants are small.", "Cats purr."])
    assert text == "The answer is no because Ants are small. Cats purr."
    assert parse_chain(text) == ("no", ["Ants are small.", "Cats purr."], True)


def test_reasoning_first_is_read_and_written():
    text = format_chain("no", ["Ants are small.", "Cats purr."], "reasoning_first")
    assert text == "Ants are small. Cats purr. So the answer is no."
    assert parse_chain(text) == ("no", ["Ants are small.", "Cats purr."], True)
    # Other connectives, and a last step without its full stop.
    assert parse_chain("Ants are small. Therefore, the answer is yes.") == (
        "yes", ["Ants are small."], True)
    assert format_chain("yes", "Ants are small", "reasoning_first") == (
        "Ants are small. So the answer is yes.")


def test_answer_first_chains_parse_as_before():
    """A chain that opens with its answer keeps the steps after it, even when a later
    sentence repeats the answer phrase or a stray sentence comes first."""
    assert parse_chain("The answer is no because Ants are small. So the answer is no.") == (
        "no", ["Ants are small.", "So the answer is no."], True)
    assert parse_chain("What is milk? The answer is yes, because Cows give milk.") == (
        "yes", ["Cows give milk."], True)
    assert parse_chain('"The answer is no, because Ants are small."')[1] == [
        'Ants are small."']


def test_reorder_round_trips():
    from feedback_data.text.chain_format import reorder_chain

    first = "The answer is yes because Ants are small. Cats purr."
    second = reorder_chain(first, "reasoning_first")
    assert second == "Ants are small. Cats purr. So the answer is yes."
    assert reorder_chain(second, "answer_first") == first
    assert reorder_chain(first, "answer_first") == first
    assert reorder_chain("no answer here.", "reasoning_first") == "no answer here."
