"""`rhf model pretrain-tiny`: pre-train, check and record a (very small) base."""

import json

import pytest
from typer.testing import CliRunner

from rhf_cli import app


@pytest.mark.usefixtures("real_data")
def test_pretrain_tiny_writes_a_record_and_ships(tmp_path):
    ship = tmp_path / "shipped"
    result = CliRunner().invoke(app, [
        "model", "pretrain-tiny", str(tmp_path / "base"), "--size", "tiny",
        "--synthetic-sports", "32", "--strategyqa-repeats", "1", "--epochs", "0.05",
        "--batch-size", "32", "--check-limit", "12", "--ship", str(ship)])
    assert result.exit_code == 0, result.output
    record = json.loads((ship / "base_record.json").read_text())
    assert record["config"]["size"] == "tiny" and record["config"]["synthetic_sports"] == 32
    assert record["seed"] == 0 and record["train_seconds"] > 0
    assert record["parameters"] == 2_296_192
    sets = record["metrics"]
    assert set(sets) == {"sports_understanding/validation", "sports_understanding/dev",
                         "strategyqa/dev"}
    assert all(s["n"] == 12 and 0 <= s["unparsed"] <= 12 for s in sets.values())
    assert (ship / "model.safetensors").exists() and (ship / "tokenizer.json").exists()
    assert "CoT accuracy" in result.output


@pytest.mark.usefixtures("real_data")
def test_synthetic_sports_never_uses_a_dev_or_validation_question():
    from feedback_data.sources.bigbench import normalize_question
    from feedback_data.sources.splits import dev_examples
    from training.data.pretrain_data import sports_validation_examples, synthetic_sports_examples

    task = "sports_understanding"
    held = {normalize_question(task, e.question)
            for e in [*dev_examples(task), *sports_validation_examples()]}
    made = synthetic_sports_examples(3000, seed=0)
    assert len(made) == 3000
    assert not held & {normalize_question(task, e.question) for e in made}
    yes = sum(e.answer == "yes" for e in made)
    assert 1300 < yes < 1700  # balanced, as drawn
    assert any(" in the " in e.question for e in made)


@pytest.mark.usefixtures("real_data")
def test_majority_class_of_the_dev_sets():
    from feedback_data.sources.splits import dev_examples
    from pipeline.base_model import majority_class

    # 107 of the 197 Sports dev answers are "no"; 300 of the 551 StrategyQA ones.
    assert majority_class(dev_examples("sports_understanding")) == 107 / 197
    assert majority_class(dev_examples("strategyqa")) == 300 / 551
