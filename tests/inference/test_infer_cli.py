"""`rhf infer`: one method over a split, predictions written, accuracy matching them."""

import json

from typer.testing import CliRunner

from rhf_cli import app

runner = CliRunner()


def _run(args):
    result = runner.invoke(app, ["infer", *args])
    assert result.exit_code == 0, result.output
    start = result.output.rindex('{"method"')
    return json.loads(result.output[start:].splitlines()[0])


def test_each_method_writes_predictions_and_accuracy(tiny_t5, tmp_path):
    for method in ("cot", "multitask", "wsc", "wsc_soft", "refine"):
        out = tmp_path / f"{method}.jsonl"
        base = ["--base-model", str(tiny_t5)] if method == "refine" else []
        summary = _run(["--method", method, "--model", str(tiny_t5), *base, "--task",
                        "sports_understanding", "--limit", "3", "--k", "1", "--n", "2",
                        "--rounds", "2", "--max-new-tokens", "8", "--out", str(out)])
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(rows) == summary["examples"] == 3
        assert {r["method"] for r in rows} == {method}
        right = sum(r["answer"] == r["gold"] for r in rows)
        assert summary["accuracy"] == right / 3
        assert summary["unparsed"] == sum(r["answer"] is None for r in rows)


def test_bad_method_and_missing_model_are_one_line_errors(tiny_t5):
    result = runner.invoke(app, ["infer", "--method", "vote", "--model", str(tiny_t5)])
    assert result.exit_code == 1 and "unknown method 'vote'" in result.output
    result = runner.invoke(app, ["infer", "--model", "/nonexistent/model", "--limit", "1"])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_refine_needs_its_base_model_and_a_known_keep_rule(tiny_t5):
    # No silent substitution: --model does not stand in for the base model.
    result = runner.invoke(app, ["infer", "--method", "refine", "--model", str(tiny_t5)])
    assert result.exit_code == 1 and "--base-model is required for refine" in result.output
    result = runner.invoke(app, ["infer", "--method", "refine", "--model", str(tiny_t5),
                                 "--base-model", str(tiny_t5), "--refine-keep", "last"])
    assert result.exit_code == 1 and "--refine-keep must be one of given, written" in (
        result.output)


def test_wsc_batch_rows_must_be_positive(tiny_t5):
    result = runner.invoke(app, ["infer", "--method", "wsc", "--model", str(tiny_t5),
                                 "--wsc-batch-rows", "0"])
    assert result.exit_code == 1 and "--wsc-batch-rows must be >= 1, got 0" in result.output


def test_unlabelled_questions_are_answered_not_scored(tiny_t5, tmp_path):
    """`rhf infer --examples` and `rhf chains generate --examples` on questions without a
    gold answer: predictions and chains written, accuracy not computed, and said so."""
    questions = tmp_path / "mine.jsonl"
    questions.write_text('{"question": "Could a llama birth twice during the War in Vietnam?"}\n'
                         '{"id": "q2", "question": "Is a pound of feathers heavier than a '
                         'pound of bricks?"}\n')
    out = tmp_path / "answers.jsonl"
    summary = _run(["--method", "multitask", "--model", str(tiny_t5), "--examples",
                    str(questions), "--max-new-tokens", "8", "--out", str(out)])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["gold"] for r in rows] == [None, None] and rows[1]["example_id"] == "strategyqa/q2"
    assert summary["accuracy"] is None and summary["labelled"] == 0
    assert summary["note"] == ("2 of 2 questions have no gold answer: answered, not scored; "
                               "accuracy not computed")
    # one labelled: accuracy over that one only
    questions.write_text(questions.read_text() + '{"question": "Is water wet?", "answer": '
                                                 '"yes"}\n')
    summary = _run(["--method", "multitask", "--model", str(tiny_t5), "--examples",
                    str(questions), "--max-new-tokens", "8", "--out", str(out)])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["labelled"] == 1 and summary["accuracy"] == float(rows[2]["answer"] == "yes")
    assert summary["note"].startswith("2 of 3 questions have no gold answer")

    chains = tmp_path / "chains.jsonl"
    result = runner.invoke(app, ["chains", "generate", "--model", str(tiny_t5), "--task",
                                 "strategyqa", "--examples", str(questions), "--k", "0",
                                 "--max-new-tokens", "8", "--out", str(chains)])
    assert result.exit_code == 0, result.output
    assert len(chains.read_text().splitlines()) == 3
    assert "2 questions have no gold answer (annotators' corrections will supply it)" in (
        result.output)
