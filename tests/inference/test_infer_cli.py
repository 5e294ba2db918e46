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
