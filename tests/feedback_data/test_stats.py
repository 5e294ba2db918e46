"""Statistics and consistency flags against hand-counted expectations."""

from feedback_data.records.consistency import consistency_flags, is_inconsistent
from feedback_data.records.schema import Chain, Correction, Example, Feedback, FeedbackItem
from feedback_data.records.stats import feedback_stats


def _item(i, types, correction, reasons=None, gold="yes", flags=()):
    ex = Example(id=f"e{i}", task="strategyqa", question="Q?", answer=gold)
    chain = Chain(id=f"c{i}", example_id=ex.id, task="strategyqa", question="Q?", model="m",
                  prompt_id="p", text="The answer is yes because x.", answer="yes",
                  steps=["x."], parsed=True)
    from feedback_data.text.chain_format import parse_chain

    answer, steps, _ = parse_chain(correction)
    fb = Feedback(id=f"f{i}", chain_id=chain.id, annotator="a", source="human",
                  correction=Correction(text=correction, answer=answer, steps=steps),
                  error_types=types, reasons=reasons or {}, flags=list(flags))
    return FeedbackItem(example=ex, chain=chain, feedback=fb)


def test_shares_and_flags_hand_counted():
    items = [
        _item(0, [], "The answer is yes because x."),
        _item(1, ["FE", "MF"], "The answer is no because y.", {"FE": "step 1", "MF": "m"}),
        _item(2, ["MF"], "", {"MF": "step 2", "IR": "stray"}),
        _item(3, ["LI"], "The answer is yes because z.", {}, flags=["none_with_error_types"]),
    ]
    st = feedback_stats(items)
    assert st["records"] == 4
    assert st["error_type_counts"] == {"None": 1, "FE": 1, "MF": 2, "IR": 0, "LI": 1}
    assert st["error_type_shares"]["MF"] == 0.5
    assert st["error_type_shares"]["None"] == 0.25
    assert st["flags"] == {"correction_contradicts_gold": 1, "empty_correction": 1,
                           "none_with_error_types": 1, "reason_without_type": 1,
                           "type_without_reason": 1}
    assert st["flagged_records"]["empty_correction"] == ["f2"]
    assert consistency_flags(items[2]) == ["empty_correction", "reason_without_type:IR"]
    assert [is_inconsistent(i) for i in items] == [False, False, True, True]
