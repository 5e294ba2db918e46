"""Feedback -> pairs: the instruction per term, the targets, contradicting corrections, the
chain order, left-outs."""

from __future__ import annotations

from collections import Counter

import pytest

from feedback_data.errors import DataError
from feedback_data.records.consistency import contradicts_gold
from feedback_data.sources.paper_import import load_paper_feedback
from feedback_data.text.instructions import (
    answer_prompt,
    description_prompt,
    error_types_prompt,
    error_types_text,
    parse_subquestions,
    refine_prompt,
    subquestions_prompt,
)
from training.data.examples import (
    MULTITASK_TERMS,
    PAPER_TERMS,
    check_weights,
    filter_consistent,
    load_pairs,
)
from training.data.multitask_pairs import multitask_pairs, subquestion_counts, term_pairs
from training.data.refine_pairs import refine_pairs


@pytest.fixture(scope="module")
def items(real_data):
    return load_paper_feedback("strategyqa", "train")[:60]


def _no_error(items):
    return next(i for i in items if not i.feedback.error_types)


def _with_error(items):
    return next(i for i in items if len(i.feedback.error_types) >= 2)


def test_multitask_terms_use_the_shared_instructions(items):
    item = _with_error(items)
    pairs = term_pairs(item)
    q, chain, fb = item.example.question, item.chain.text, item.feedback
    assert pairs["answer"].source == answer_prompt(q)
    assert pairs["answer"].target == fb.correction.text.strip()
    assert pairs["error_types"].source == error_types_prompt(q, chain)
    assert pairs["description"].source == description_prompt(q, chain)
    assert pairs["error_types"].target == error_types_text(list(fb.error_types))
    assert "," in pairs["error_types"].target  # two or more types, in natural language
    assert pairs["description"].target.startswith(("Factual Error:", "Missing Facts:",
                                                   "Irrelevant Facts:", "Logical"))


def test_a_chain_without_error_says_no_error(items):
    item = _no_error(items)
    assert term_pairs(item)["error_types"].target == "no error"
    assert term_pairs(item)["description"].target == "no error"
    (pair,) = refine_pairs([item])
    assert pair.source == refine_prompt(item.example.question, item.chain.text)
    assert pair.target == f"no error ; {item.chain.text.strip()}"


def test_refine_target_is_error_types_then_correction(items):
    item = _with_error(items)
    (pair,) = refine_pairs([item])
    head, _, tail = pair.target.partition(" ; ")
    assert head == term_pairs(item)["error_types"].target
    assert tail == item.feedback.correction.text.strip()


@pytest.mark.parametrize("weights", [
    {"answer": 1.0, "error_types": 1.0, "description": 1.0},
    {"answer": 2.0, "error_types": 1.0, "description": 1.0},
    {"answer": 1.0, "error_types": 0.5, "description": 0.0},
])
def test_every_weighted_term_has_one_pair_per_record(items, weights):
    """The shares are the sampler's (test_training_term_weights.py); here each term with a
    positive weight has every record once (bar dropped contradicting answers)."""
    pairs = multitask_pairs(items, weights, contradicting="keep")
    counts = Counter(p.term for p in pairs)
    for term in PAPER_TERMS:
        assert counts[term] == (len(items) if weights.get(term, 0.0) > 0 else 0)
    assert counts["subquestions"] == 0  # not one of the paper's terms: off unless named


def test_the_subquestions_term_holds_what_the_annotators_wrote(items):
    """q -> the annotators' subquestions, one target, read back whole; a record without
    subquestions gives no pair, and is counted."""
    item = next(i for i in items if len(i.feedback.subquestions) >= 2)
    pair = term_pairs(item)["subquestions"]
    assert pair.source == subquestions_prompt(item.example.question)
    assert "Question:" not in pair.source and "Answer:" not in pair.source  # no chain in it
    assert parse_subquestions(pair.target) == [
        " ".join(s.split()).rstrip("?").strip() + "?" for s in item.feedback.subquestions]
    bare = item.model_copy(update={"feedback": item.feedback.model_copy(
        update={"subquestions": []})})
    assert "subquestions" not in term_pairs(bare)
    weights = {"answer": 1.0, "subquestions": 1.0}
    pairs = multitask_pairs([item, bare], weights, contradicting="keep")
    assert Counter(p.term for p in pairs) == {"answer": 2, "subquestions": 1}
    assert subquestion_counts([item, bare]) == {"records_with_subquestions": 1,
                                                "records_without": 1}
    assert "subquestions" in MULTITASK_TERMS and "subquestions" not in PAPER_TERMS


def test_bad_weights_are_refused():
    with pytest.raises(ValueError, match="unknown multitask term"):
        check_weights({"answr": 1.0})
    with pytest.raises(ValueError, match="positive sum"):
        check_weights({"answer": 0.0})


def test_contradicting_corrections_are_dropped_from_answer_and_refine_only(items):
    """A correction whose answer contradicts the gold answer is no answer or refine target
    under 'drop'; its record still teaches its error types and description."""
    bad = [i for i in items if contradicts_gold(i)]
    assert bad, "the first 60 StrategyQA records hold contradicting corrections"
    item = bad[0]
    assert item.feedback.correction.answer != item.example.answer
    kept = multitask_pairs([item], contradicting="keep")
    dropped = multitask_pairs([item], contradicting="drop")
    assert [p.term for p in kept] == ["answer", "error_types", "description"]
    assert [p.term for p in dropped] == ["error_types", "description"]
    assert refine_pairs([item], contradicting="drop") == []
    assert len(refine_pairs([item], contradicting="keep")) == 1
    fine = next(i for i in items if not contradicts_gold(i))
    assert len(multitask_pairs([fine], contradicting="drop")) == 3
    with pytest.raises(ValueError, match="unknown contradicting-corrections policy"):
        multitask_pairs([fine], contradicting="ignore")


def test_reasoning_first_rewrites_targets_and_the_chains_read(items):
    from feedback_data.text.chain_format import parse_chain

    item = next(i for i in _errors(items) if not contradicts_gold(i))
    pairs = term_pairs(item, "reasoning_first")
    target = pairs["answer"].target
    assert target.endswith(f"So the answer is {item.feedback.correction.answer}.")
    assert parse_chain(target)[0] == item.feedback.correction.answer
    assert "So the answer is" in pairs["error_types"].source
    assert pairs["error_types"].target == term_pairs(item)["error_types"].target
    (pair,) = refine_pairs([item], "reasoning_first")
    assert pair.target.endswith(".") and "So the answer is" in pair.target.split(" ; ")[1]


def _errors(items):
    return [i for i in items if i.feedback.error_types]


def test_inconsistent_records_are_left_out_and_counted(items):
    bad = items[0].model_copy(deep=True)
    bad.feedback.correction.text = "   "
    bad2 = items[1].model_copy(deep=True)
    bad2.feedback.flags = ["none_with_error_types"]
    result = filter_consistent([bad, *items[2:5], bad2])
    assert len(result.kept) == 3 and result.left_out == 2
    assert result.left_out_flags["empty_correction"] == 1
    assert result.left_out_flags["none_with_error_types"] == 1


def test_pairs_file_is_validated(tmp_path):
    good = tmp_path / "pairs.jsonl"
    good.write_text('{"source": "q", "target": "a", "term": "chain"}\n')
    assert load_pairs(good)[0].term == "chain"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"source": "q", "target": 3, "term": "chain"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:1: .*target"):
        load_pairs(bad)


def test_held_out_split_keeps_questions_apart(make_cfg):
    from training.data.build import build_data

    cfg = make_cfg("refine", **{"data.max_records": 0, "data.eval_fraction": 0.1,
                                "data.eval_max": 10_000})
    data = build_data(cfg.data, refine_pairs, refine_pairs, seed=0, log=lambda _m: None)
    train_sources = {p.source for p in data.train}
    assert data.eval and not train_sources & {p.source for p in data.eval}
    c = data.counts
    assert c["records_left_out"] == 0
    assert c["records_train"] + c["records_eval"] + c["records_detection_held_out"] == \
        c["records_total"]
    # The Sports detection set (about 20% of the 796 Sports records) is never trained on.
    assert 120 <= c["records_detection_held_out"] <= 200
    # The contradicting corrections are counted, and dropped from the refine targets.
    contra = c["contradicting_corrections"]
    assert contra["policy"] == "drop" and contra["records"] == contra["records_dropped"] > 0
    assert len(data.train) == c["records_train"] - contra["records"]


def test_kept_correction_pairs_teach_refine_to_keep_a_correct_chain(items):
    from feedback_data.text.answers import answers_match
    from feedback_data.text.chain_format import reorder_chain
    from feedback_data.text.instructions import refine_target
    from training.data.refine_pairs import kept_correction_pairs

    errs = [i for i in items if i.feedback.error_types]
    agree = [i for i in errs if i.feedback.correction.answer is not None
             and answers_match(i.example, i.feedback.correction.answer, i.example.answer)]
    contra = [i for i in errs if contradicts_gold(i)]
    clean = [i for i in items if not i.feedback.error_types]
    assert agree and contra and clean
    pairs = kept_correction_pairs(agree[:3] + contra[:3] + clean[:2])
    # one pair per gold-consistent correction, none for contradicting ones or clean chains
    assert [p.id for p in pairs] == [i.feedback.id for i in agree[:3]]
    item, pair = agree[0], pairs[0]
    chain = reorder_chain(item.feedback.correction.text, "answer_first")
    assert pair.source == refine_prompt(item.example.question, chain)
    assert pair.target == refine_target([], chain)
    assert pair.target.startswith("no error ; ")
