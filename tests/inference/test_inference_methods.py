"""Voting and stopping logic against hand-worked cases; every method end to end on a tiny T5."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedback_data.chain_format import parse_chain
from feedback_data.prompts import default_shots
from feedback_data.schema import Example
from feedback_data.splits import dev_examples
from inference.backends import Backend
from inference.methods import (
    RefineState,
    refine_update,
    run_cot,
    run_multitask,
    run_refine,
    run_wsc,
    sample_weight,
    weighted_vote,
)
from inference.toy_models import ScriptedGenerator


def ex(i: int, task: str = "strategyqa") -> Example:
    return Example(id=f"{task}/{i}", task=task, question=f"Question {i}?", answer="yes")


def test_weighted_vote_hand_worked() -> None:
    assert weighted_vote(["yes", "no", "no"], [1.0, 0.5, 0.5]) == "no"  # tie 1.0-1.0: more votes
    assert weighted_vote(["yes", "no", "no"], [1.0, 0.4, 0.4]) == "yes"  # 1.0 > 0.8
    assert weighted_vote(["no", "yes"], [0.5, 0.5]) == "no"  # full tie: sampled first
    assert weighted_vote([None, "yes", None], [1.0, 0.1, 1.0]) == "yes"  # None has no vote
    assert weighted_vote([None, None], [1.0, 1.0]) is None
    assert sample_weight([], 0.3) == 1.0
    assert sample_weight(["FE"], 0.3) == 0.3
    assert sample_weight(None, 0.3) == 0.3


def test_refine_update_rules() -> None:
    s = refine_update(RefineState("The answer is yes because a."),
                      "factual error ; The answer is no because b.", 3)
    assert (s.chain, s.stop, s.rounds) == ("The answer is no because b.", None, 1)
    # 'no error': the chain it was given stays (the paper's rule; see test_methods_faithful)
    s = refine_update(s, "no error ; The answer is no because b2.", 3)
    assert (s.chain, s.stop, s.rounds) == ("The answer is no because b.", "no_error", 2)
    s = refine_update(RefineState("The answer is yes because a."), "no error ; nonsense", 3)
    assert (s.chain, s.stop) == ("The answer is yes because a.", "no_error")
    s = refine_update(RefineState("The answer is yes because a."), "blah", 3)
    assert (s.chain, s.stop) == ("The answer is yes because a.", "unparsed")
    s = refine_update(RefineState("The answer is yes because a."), "missing facts ; blah", 3)
    assert (s.chain, s.stop) == ("The answer is yes because a.", "unparsed_correction")
    s = refine_update(RefineState("x", rounds=2), "missing facts ; The answer is no because c.",
                      3)
    assert (s.chain, s.stop, s.rounds) == ("The answer is no because c.", "max_rounds", 3)


def test_refine_loop_keeps_only_unfinished_examples() -> None:
    script = {
        "Question 1?": ["factual error ; The answer is no because b.",
                        "no error ; The answer is no because b."],
        "Question 2?": ["no error ; The answer is yes because x."],
        "Question 3?": ["missing facts ; The answer is yes because c1.",
                        "missing facts ; The answer is no because c2.",
                        "missing facts ; The answer is yes because c3."],
        "Question 4?": ["gibberish"],
    }
    seen: dict[str, int] = {}

    def respond(prompt: str, _j: int) -> str:
        q = prompt.split("Question: ")[1].split("\n")[0]
        seen[q] = seen.get(q, 0) + 1
        return script[q][seen[q] - 1]

    gen = ScriptedGenerator(respond)
    preds = run_refine(gen, [ex(i) for i in range(1, 5)],
                       ["The answer is yes because a."] * 4, rounds=3)
    assert [len(c["prompts"]) for c in gen.calls] == [4, 2, 1]
    assert [p.answer for p in preds] == ["no", "yes", "yes", "yes"]
    assert [p.meta["rounds"] for p in preds] == [2, 1, 3, 1]
    assert [p.meta["stop"] for p in preds] == ["no_error", "no_error", "max_rounds", "unparsed"]
    assert preds[2].text == "The answer is yes because c3."


@pytest.mark.parametrize("task", ["strategyqa", "sports_understanding"])
def test_every_method_end_to_end_on_tiny_t5(task: str, tiny_t5: Path) -> None:
    backend = Backend.load(tiny_t5, batch_size=16)
    examples = dev_examples(task)[:3]
    shots = default_shots(task, 2)
    cot = run_cot(backend, examples, task, shots, max_new_tokens=8)
    results = {
        "cot": cot,
        "multitask": run_multitask(backend, examples, max_new_tokens=8),
        "wsc": run_wsc(backend, examples, n=3, max_new_tokens=8),
        "refine": run_refine(backend, examples, [p.text for p in cot], rounds=2,
                             max_new_tokens=8),
    }
    for name, preds in results.items():
        assert [p.example_id for p in preds] == [e.id for e in examples], name
    # Each answer is what its text says (cot, multitask, refine) or the weighted vote of
    # the samples' answers (wsc): the answer is read from the output, never made up.
    for name in ("cot", "multitask", "refine"):
        for p in results[name]:
            assert p.answer == parse_chain(p.text)[0], name
    for p in results["wsc"]:
        assert p.meta["answers"] == [parse_chain(t)[0] for t in p.meta["texts"]]
        assert p.answer == weighted_vote(p.meta["answers"], p.meta["weights"])
        assert p.text == p.meta["texts"][0]
    assert all(len(p.meta["answers"]) == 3 for p in results["wsc"])
    assert all(1 <= p.meta["rounds"] <= 2 for p in results["refine"])


def test_wsc_batch_rows_sets_the_decode_batches(tiny_t5: Path, monkeypatch) -> None:
    """Rows per sampling batch are questions x n: 4 questions x 3 samples at batch_size 3
    decode one question per batch; with batch_rows 12 all four decode in one batch."""
    import inference.backends as backends

    rows: list[int] = []
    real = backends.seq2seq_decode

    def counting(model, enc, **kw):
        rows.append(enc["input_ids"].shape[0] * kw["num_return_sequences"])
        return real(model, enc, **kw)

    monkeypatch.setattr(backends, "seq2seq_decode", counting)
    backend = Backend.load(tiny_t5, batch_size=3)
    examples = dev_examples("strategyqa")[:4]
    default = run_wsc(backend, examples, n=3, max_new_tokens=6, seed=1)
    assert rows == [3, 3, 3, 3]
    rows.clear()
    wide = run_wsc(backend, examples, n=3, max_new_tokens=6, seed=1, batch_rows=12)
    assert rows == [12]
    for a, b in zip(default, wide, strict=True):  # the same questions, n samples each
        assert len(a.meta["texts"]) == len(b.meta["texts"]) == 3
