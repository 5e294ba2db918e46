import pytest

from feedback_data.sources.bigbench import load_bigbench, normalize_question
from feedback_data.sources.paper_import import PAPER_SPLITS, load_paper_feedback
from feedback_data.sources.splits import calibration_items, dev_examples

pytestmark = pytest.mark.usefixtures("real_data")  # the real datasets (tests/conftest.py)


def test_normalize_question():
    assert normalize_question("strategyqa", "Is it  common, to see FROST?") == \
        "is it common to see frost"
    question = "Jamal Murray was perfect from the line. Is this sentence plausible?"
    assert normalize_question("sports_understanding", question) == \
        "jamal murray was perfect from the line"


def test_dev_sets_are_disjoint_from_feedback_and_deduplicated():
    for task in ("strategyqa", "sports_understanding"):
        dev = dev_examples(task)
        keys = [normalize_question(task, e.question) for e in dev]
        assert len(keys) == len(set(keys))
        feedback = {normalize_question(task, i.example.question)
                    for t, s in PAPER_SPLITS if t == task for i in load_paper_feedback(t, s)}
        assert not set(keys) & feedback
        # Every BIG-bench question outside the feedback files is in the dev set.
        outside = {normalize_question(task, e.question) for e in load_bigbench(task)} - feedback
        assert set(keys) == outside
        assert len(dev) > 100


def test_feedback_questions_come_from_bigbench():
    """SOURCE.md: the released questions are a subset of BIG-bench's tasks."""
    for task in ("strategyqa", "sports_understanding"):
        bigbench = {normalize_question(task, e.question) for e in load_bigbench(task)}
        train = {normalize_question(task, i.example.question)
                 for i in load_paper_feedback(task, "train")}
        assert len(train & bigbench) / len(train) > 0.95


def test_calibration_set_is_strategyqa_eval():
    items = calibration_items()
    assert len(items) == 173
    assert {i.example.task for i in items} == {"strategyqa"}
