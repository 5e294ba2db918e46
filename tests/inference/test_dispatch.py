"""The one method dispatcher: each name reaches its method, in the examples' order."""

from __future__ import annotations

import pytest

from feedback_data.records.schema import Example
from inference.dispatch import MethodParams, run_method
from inference.toy_models import ScriptedGenerator


def ex(i: int, task: str) -> Example:
    return Example(id=f"{task}/{i}", task=task, question=f"Question {i}?", answer="yes")


def answers_by_question(prompt: str, _j: int) -> str:
    """'The answer is no ...' for odd question numbers (the last question in the prompt)."""
    number = int(prompt.rsplit("Question ", 1)[1].split("?")[0])
    return f"The answer is {'no' if number % 2 else 'yes'} because of {number}."


def test_cot_groups_by_task_and_keeps_the_order() -> None:
    gen = ScriptedGenerator(answers_by_question)
    examples = [ex(1, "strategyqa"), ex(2, "sports_understanding"), ex(3, "strategyqa")]
    preds = run_method("cot", gen, examples, MethodParams(k=0))
    assert [p.example_id for p in preds] == [e.id for e in examples]
    assert [p.answer for p in preds] == ["no", "yes", "no"]
    assert len(gen.calls) == 2  # one batch per task


def test_refine_starts_from_the_given_chains_or_the_base_models() -> None:
    refiner = ScriptedGenerator(lambda p, j: "no error ; The answer is no because z.")
    examples = [ex(2, "strategyqa")]
    given = run_method("refine", refiner, examples, MethodParams(),
                       start_chains=["The answer is yes because a."])
    assert (given[0].answer, given[0].text) == ("yes", "The answer is yes because a.")
    base = ScriptedGenerator(answers_by_question)
    from_base = run_method("refine", refiner, examples, MethodParams(k=0), base=base)
    assert from_base[0].text == "The answer is yes because of 2." and len(base.calls) == 1
    with pytest.raises(ValueError, match="base model"):
        run_method("refine", refiner, examples, MethodParams())


def test_unknown_method_and_keep_rule_fail() -> None:
    with pytest.raises(ValueError, match="unknown method 'vote'"):
        run_method("vote", None, [], MethodParams())
    with pytest.raises(ValueError, match="refine-keep"):
        run_method("cot", None, [], MethodParams(refine_keep="last"))
