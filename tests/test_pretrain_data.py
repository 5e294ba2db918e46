import pytest

from feedback_data.sources.bigbench import load_sports_vocab, normalize_question
from feedback_data.sources.splits import calibration_items, dev_examples
from feedback_data.sources.sports_vocab import sports_explanation, sports_facts
from training.data.pretrain_data import pretrain_examples

pytestmark = pytest.mark.usefixtures("real_data")  # the real datasets (tests/conftest.py)


def test_pretrain_examples_avoid_every_evaluation_set():
    for task in ("strategyqa", "sports_understanding"):
        keys = {normalize_question(task, e.question) for e in pretrain_examples(task)}
        assert keys, task
        assert not keys & {normalize_question(task, e.question) for e in dev_examples(task)}
    calibration = {normalize_question("strategyqa", i.example.question)
                   for i in calibration_items()}
    assert not calibration & {normalize_question("strategyqa", e.question)
                              for e in pretrain_examples("strategyqa")}


def test_sports_explanations_agree_with_gold():
    vocab = load_sports_vocab()
    examples = pretrain_examples("sports_understanding")
    agree = sum(sports_facts(e.question, vocab).consistent == (e.answer == "yes")
                for e in examples)
    assert agree / len(examples) > 0.95


def test_sports_explanation_wording():
    vocab = {"players": {"hockey": ["Kyle Palmieri"], "soccer": ["Neymar"]},
             "player_actions": {"hockey": ["was called for slashing"],
                                "soccer": ["scored a header goal"]}}
    assert sports_explanation("Kyle Palmieri scored a header goal", vocab) == (
        'Kyle Palmieri is an ice hockey player. '
        'The phrase "scored a header goal" belongs to soccer.')
    assert sports_facts("Neymar scored a header goal", vocab).consistent is True
    assert sports_explanation("Someone did something", vocab) == ""
