"""wsc, wsc_soft and refine as the paper describes them, against hand-worked cases."""

from __future__ import annotations

import math

import pytest

from feedback_data.records.schema import Example
from feedback_data.text.critic_labels import ERROR_LABELS, argmax_label, label_probabilities
from inference.methods import (
    RefineState,
    label_weight,
    refine_update,
    run_refine,
    run_wsc,
    soft_weight,
    wsc_sample,
    wsc_vote,
)
from inference.toy_models import ScriptedGenerator


def ex(i: int) -> Example:
    return Example(id=f"strategyqa/{i}", task="strategyqa", question=f"Question {i}?",
                   answer="yes")


# Five samples per question; the fifth repeats the first (scored once).
SAMPLES = ["The answer is yes because a.", "The answer is no because b.",
           "The answer is no because c.", "garbage", "The answer is yes because a."]
# p(t | q, a) over (no error, factual error, missing facts, irrelevant facts, logical inc.);
# the eleven combinations of several types get almost nothing (exp(-40)), except where a test
# gives them mass on purpose.
LABEL_P = {"a.": [0.6, 0.1, 0.1, 0.1, 0.1],       # argmax no error
           "b.": [0.3, 0.4, 0.1, 0.1, 0.1],       # argmax factual error, P(no error) .3
           "c.": [0.45, 0.05, 0.46, 0.02, 0.02],  # argmax missing facts, P(no error) .45
           "garbage": [0.2, 0.2, 0.2, 0.2, 0.2]}  # a tie: 'no error' (first) wins


def scripted(n_samples: int = 4) -> ScriptedGenerator:
    def respond(prompt: str, j: int) -> str:
        if prompt.startswith("Predict"):
            return SAMPLES[j]
        # A greedy critique would say 'no error' everywhere: wsc must not read it.
        return "no error"

    def score(prompt: str, choice: str) -> float:
        chain = prompt.rsplit("Answer: ", 1)[1]
        index = ERROR_LABELS.index(choice)
        return math.log(LABEL_P[chain.split("because ")[-1]][index]) if index < 5 else -40.0

    return ScriptedGenerator(respond, score=score)


def test_label_helpers_hand_worked() -> None:
    assert ERROR_LABELS[:5] == ("no error", "factual error", "missing facts",
                                "irrelevant facts", "logical inconsistency")
    assert len(ERROR_LABELS) == 16
    # softmax of log(.6), log(.1) x4 = .6, .1 x4 (already normalised)
    assert label_probabilities([math.log(p) for p in LABEL_P["a."]]) == pytest.approx(
        LABEL_P["a."])
    # log-probs -1, -1 -> 1/2 each (renormalised over the labels)
    assert label_probabilities([-1.0, -1.0]) == pytest.approx([0.5, 0.5])
    assert argmax_label([-3.0, -1.0, -1.0]) == 1  # tie between 1 and 2: the first
    assert argmax_label([-1.0, -1.0]) == 0
    assert label_weight([-2.0, -1.0, -3.0], 0.3) == 0.3
    assert label_weight([-1.0, -1.0, -3.0], 0.3) == 1.0
    # w + (1 - w) p: .4 + .6 · .45 = .67
    assert soft_weight(0.45, 0.4) == pytest.approx(0.67)
    assert soft_weight(1.0, 0.2) == 1.0 and soft_weight(0.0, 0.2) == 0.2


@pytest.mark.parametrize(("w", "expected"), [(0.5, "no"), (0.4, "yes"), (1.0, "no"),
                                             (0.0, "yes")])
def test_wsc_votes_by_argmax_label(w: float, expected: str) -> None:
    # answers yes, no, no, None; argmax labels no error, FE, MF, (tie) no error
    # -> weights 1, w, w, 1 and votes yes 1, no 2w (None has no vote).
    # w=.5: 1-1, more votes -> no; w=.4: 1 > .8 -> yes; w=1: 1 < 2 -> no; w=0: yes.
    gen = scripted()
    preds = run_wsc(gen, [ex(1), ex(2)], n=4, w=w)
    assert [p.answer for p in preds] == [expected, expected]
    assert preds[0].meta["weights"] == [1.0, w, w, 1.0]
    assert preds[0].meta["answers"] == ["yes", "no", "no", None]
    assert preds[0].meta["critiques"] == ["no error", "factual error", "missing facts",
                                          "no error"]
    assert preds[0].meta["p_no_error"] == pytest.approx([0.6, 0.3, 0.45, 0.2])
    # One sampling call (n=4, both questions), one scoring call over 8 critique prompts and
    # the sixteen labels; no greedy critique is generated.
    assert [(len(c["prompts"]), c.get("n"), c.get("choices")) for c in gen.calls] == [
        (2, 4, None), (8, None, list(ERROR_LABELS))]


def test_wsc_soft_differs_from_the_papers_rule_on_the_same_samples() -> None:
    gen = scripted()
    examples = [ex(1)]
    samples = wsc_sample(gen, examples, n=4)
    paper = wsc_vote(examples, samples, w=0.4)
    soft = wsc_vote(examples, samples, w=0.4, soft=True)
    # paper: yes 1 vs no .4 + .4 = .8 -> yes
    assert paper[0].answer == "yes"
    # soft: .4 + .6 p -> a .76, b .58, c .67, garbage (no vote) .52: yes .76 < no 1.25 -> no
    assert soft[0].meta["weights"] == pytest.approx([0.76, 0.58, 0.67, 0.52])
    assert soft[0].answer == "no"
    assert len(gen.calls) == 2  # both votes came from one sampling and one scoring pass


def test_wsc_scores_each_distinct_answer_once() -> None:
    gen = scripted()
    preds = run_wsc(gen, [ex(1), ex(2)], n=5, w=0.5)
    # 5 samples per question, the fifth repeats the first: 4 distinct prompts per question
    assert len(gen.calls[1]["prompts"]) == 8
    # weights 1, .5, .5, 1, 1 -> yes 2 > no 1
    assert preds[0].meta["weights"] == [1.0, 0.5, 0.5, 1.0, 1.0]
    assert preds[0].answer == "yes"


def test_wsc_batch_rows_size_both_passes() -> None:
    gen = scripted()
    run_wsc(gen, [ex(1)], n=4, batch_size=16)
    run_wsc(gen, [ex(1)], n=4, batch_size=16, batch_rows=128)
    assert [c["batch_size"] for c in gen.calls] == [16, 16, 128, 128]


def test_wsc_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="w must be"):
        run_wsc(scripted(), [ex(1)], n=4, w=1.5)
    with pytest.raises(ValueError, match="n must be"):
        run_wsc(scripted(), [ex(1)], n=0)


def test_refine_no_error_keeps_the_given_chain() -> None:
    given = "The answer is yes because a."
    out = "no error ; The answer is no because z."
    s = refine_update(RefineState(given), out, 3)
    assert (s.chain, s.stop, s.rounds) == (given, "no_error", 1)
    s = refine_update(RefineState(given), out, 3, keep="written")
    assert (s.chain, s.stop) == ("The answer is no because z.", "no_error")
    with pytest.raises(ValueError, match="keep must be one of given, written"):
        refine_update(RefineState(given), out, 3, keep="last")


@pytest.mark.parametrize(("keep", "answer", "text"), [
    ("given", "no", "The answer is no because b."),      # c_1, the chain it judged correct
    ("written", "yes", "The answer is yes because z."),  # what it wrote at round 2
])
def test_refine_loop_final_chain(keep: str, answer: str, text: str) -> None:
    # round 1: an error, correction c_1 = 'no because b.'; round 2: 'no error' with a text z
    script = ["factual error ; The answer is no because b.",
              "no error ; The answer is yes because z."]
    calls = {"n": 0}

    def respond(_prompt: str, _j: int) -> str:
        calls["n"] += 1
        return script[calls["n"] - 1]

    preds = run_refine(ScriptedGenerator(respond), [ex(1)], ["The answer is yes because a."],
                       rounds=3, keep=keep)
    assert (preds[0].answer, preds[0].text) == (answer, text)
    assert preds[0].meta | {"rounds": 2, "stop": "no_error", "keep": keep} == preds[0].meta


def test_wsc_with_a_separate_critic_applies_its_temperature() -> None:
    """--critic-model: the answering model only samples (it cannot score here); the critic
    scores the labels, and its critic.json temperature (T 2) is applied: P(no error) of chain
    a is sqrt(.6) / (sqrt(.6) + 4 sqrt(.1) + 11 e^-20) = .3798, soft weight .4 + .6 P = .6279;
    b .5544, c .6169, garbage .52."""
    from feedback_data.text.critic_labels import CriticReading

    answerer = ScriptedGenerator(scripted().respond)  # no score function
    critic = scripted()
    critic.critic_reading = CriticReading("sum", 2.0)  # type: ignore[attr-defined]
    samples = wsc_sample(answerer, [ex(1)], n=4, critic=critic)
    soft = wsc_vote([ex(1)], samples, w=0.4, soft=True)
    assert samples.temperature == 2.0
    assert soft[0].meta["weights"] == pytest.approx([0.6279, 0.5544, 0.6169, 0.52], abs=1e-4)
    assert len(critic.calls) == 1 and "choices" in critic.calls[0]  # it only scored, once
    assert all("choices" not in c for c in answerer.calls)  # the answerer only sampled


def test_wsc_with_a_critic_on_label_words_scores_its_words() -> None:
    """A critic whose critic.json names label words is asked for those sixteen labels (not
    the label texts) and gives the same weights as the same scores on the texts (T 2: a
    .6279, b .5544, c .6169, garbage .52, as above)."""
    from feedback_data.text.critic_labels import CriticReading, label_set

    words = ("correct", "fact", "missing", "irrelevant", "conflict")
    labels = label_set(words)

    def score(prompt: str, choice: str) -> float:
        chain = prompt.rsplit("Answer: ", 1)[1]
        index = labels.index(choice)  # a label text here is a ValueError
        return math.log(LABEL_P[chain.split("because ")[-1]][index]) if index < 5 else -40.0

    critic = ScriptedGenerator(scripted().respond, score=score)
    critic.critic_reading = CriticReading("sum", 2.0, words)  # type: ignore[attr-defined]
    samples = wsc_sample(ScriptedGenerator(scripted().respond), [ex(1)], n=4, critic=critic)
    soft = wsc_vote([ex(1)], samples, w=0.4, soft=True)
    assert soft[0].meta["weights"] == pytest.approx([0.6279, 0.5544, 0.6169, 0.52], abs=1e-4)
    assert soft[0].meta["critiques"][0] == "no error"  # logged by class, as the texts name it
