"""Voting and stopping logic against hand-worked cases; every method end to end on a tiny T5."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from feedback_data.records.schema import Example
from feedback_data.sources.splits import dev_examples
from feedback_data.tasks.prompts import default_shots
from feedback_data.text.chain_format import parse_chain
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


def _critic(p_good: float = 0.9, p_bad: float = 0.1):
    """A critic whose P(no error) is ``p_good`` for a chain saying 'good', else ``p_bad``
    (the other 15 labels share the rest equally)."""
    import math

    from feedback_data.text.critic_labels import ERROR_LABELS

    def score(prompt: str, choice: str) -> float:
        p = p_good if "good" in prompt else p_bad
        return math.log(p) if choice == ERROR_LABELS[0] else math.log((1 - p) / 15)

    return ScriptedGenerator(lambda _p, _j: "", name="critic", score=score)


def test_refine_threshold_rule_rewrites_only_below_tau() -> None:
    from inference.methods import refine_chains

    script = {
        "Question 1?": ["factual error ; The answer is no because bad."],
        "Question 2?": ["factual error ; The answer is no because good."],
        "Question 3?": ["factual error ; The answer is no because bad2.",
                        "missing facts ; The answer is yes because bad3."],
    }
    seen: dict[str, int] = {}

    def respond(prompt: str, _j: int) -> str:
        q = prompt.split("Question: ")[1].split("\n")[0]
        seen[q] = seen.get(q, 0) + 1
        return script[q][seen[q] - 1]

    starts = ["The answer is yes because good.", "The answer is yes because bad.",
              "The answer is yes because bad."]
    gen, critic = ScriptedGenerator(respond), _critic()
    preds = run_refine(gen, [ex(i) for i in (1, 2, 3)], starts, rounds=2, rule="threshold",
                       critic=critic, tau=0.5)
    # round 1: the critic keeps question 1 (P .9 >= .5); 2 and 3 are rewritten;
    # round 2: 2's rewrite says 'good' (kept), 3's is rewritten again, then max rounds
    assert [len(c["prompts"]) for c in gen.calls] == [2, 1]
    assert [len(c["prompts"]) for c in critic.calls] == [3, 2]
    assert [p.meta["stop"] for p in preds] == ["critic_no_error", "critic_no_error",
                                               "max_rounds"]
    assert [p.meta["rounds"] for p in preds] == [0, 1, 2]
    assert [p.answer for p in preds] == ["yes", "no", "yes"]
    assert preds[0].meta["p_no_error"] == pytest.approx([0.9])
    assert preds[1].meta["p_no_error"] == pytest.approx([0.1, 0.9])
    assert preds[1].meta["tau"] == 0.5 and preds[1].meta["rule"] == "threshold"
    # the chains before and after each round, replayed from start and history
    assert refine_chains(preds[2].meta["start"], preds[2].meta["history"]) == [
        "The answer is yes because bad.", "The answer is no because bad2.",
        "The answer is yes because bad3."]
    assert refine_chains(preds[0].meta["start"], preds[0].meta["history"]) == [starts[0]]
    # tau above every P: every chain is rewritten, as the paper's rule does
    seen.clear()
    gen = ScriptedGenerator(respond)
    preds = run_refine(gen, [ex(i) for i in (1, 2, 3)], starts, rounds=1, rule="threshold",
                       critic=_critic(), tau=0.95)
    assert [len(c["prompts"]) for c in gen.calls] == [3]
    # a higher critic temperature flattens P toward 1/16: .9 becomes below .5 at T = 4
    from feedback_data.text.critic_labels import no_error_probability
    row = [math.log(0.9)] + [math.log(0.1 / 15)] * 15
    assert no_error_probability(row, 4.0) < 0.5 < no_error_probability(row, 1.0)
    with pytest.raises(ValueError, match="needs a critic"):
        run_refine(gen, [ex(1)], starts[:1], rule="threshold")
    with pytest.raises(ValueError, match="rule must be"):
        run_refine(gen, [ex(1)], starts[:1], rule="sometimes")


def test_vote_margin_and_summary_hand_worked() -> None:
    from inference.methods import Prediction, vote_margin, vote_summary

    # yes 1.0 + .5 against no .5: (1.5 - .5) / 2 = .5
    assert vote_margin(["yes", "yes", "no"], [1.0, 0.5, 0.5]) == 0.5
    assert vote_margin(["yes", None], [0.5, 1.0]) == 1.0  # one readable answer
    assert vote_margin([None], [1.0]) is None
    preds = [Prediction("a", "yes", "", meta={"answers": ["yes", "yes", "no"],
                                              "weights": [1.0, 0.5, 0.5]}),
             Prediction("b", None, "", meta={"answers": [None, None], "weights": [0.5, 0.5]})]
    s = vote_summary(preds)
    # 1 of 5 samples weighs 1; mean weight 3 / 5; one question votes (margin .5)
    assert s == {"samples": 5, "share_weight_one": 0.2, "mean_weight": 0.6,
                 "mean_vote_margin": 0.5, "questions_without_vote": 1}


def test_wsc_soft_reads_the_critic_temperature() -> None:
    from inference.methods import WscSamples, wsc_vote

    # P(no error) .2 raw; at T = 2 the scores halve: .2^.5 / (.2^.5 + .8^.5) = 1/3
    logps = [math.log(0.2), math.log(0.8)]
    samples = WscSamples(texts=[["a"]], answers=[["yes"]], label_logps=[[logps]])
    raw = wsc_vote([ex(1)], samples, 0.5, soft=True)
    samples.temperature = 2.0  # the critic's critic.json said T = 2
    hot = wsc_vote([ex(1)], samples, 0.5, soft=True)
    assert raw[0].meta["weights"] == pytest.approx([0.5 + 0.5 * 0.2])
    assert hot[0].meta["weights"] == pytest.approx([0.5 + 0.5 / 3])
