"""A checkpoint's own files (issue 30, item 5): a config.yaml, run.json or rhf_model.json that
is present but cannot be read is one clear error naming it, never the defaults (answer-first
chains, a 512-token source) in its place; a checkpoint without them keeps the defaults."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from inference.backends import (
    ModelLoadError,
    chain_order_of,
    checkpoint_info,
    trained_source_length,
)
from rhf_cli import app

runner = CliRunner()
CONFIG = "data:\n  chain_order: reasoning_first\n  max_source_len: 96\n"


def _checkpoint(tmp_path, **files: str):
    """RUN_DIR/final holding config.yaml (``config``), and RUN_DIR holding ``run``."""
    final = tmp_path / "run" / "final"
    final.mkdir(parents=True)
    if "config" in files:
        (final / "config.yaml").write_text(files["config"])
    if "run" in files:
        (final.parent / "run.json").write_text(files["run"])
    if "record" in files:
        (final / "rhf_model.json").write_text(files["record"])
    return final


@pytest.mark.parametrize(("text", "why"), [
    ("data: [unclosed\n", "invalid YAML: expected ',' or ']', but got '<stream end>', line 2"),
    ("just some words\n", "a str, not a mapping"),
])
def test_rhf_infer_with_a_garbage_config_is_one_error_naming_it(tmp_path, real_data, text, why):
    final = _checkpoint(tmp_path, config=text)
    result = runner.invoke(app, ["infer", "--method", "multitask", "--model",
                                 str(final.parent), "--task", "strategyqa", "--limit", "1",
                                 "--out", str(tmp_path / "preds.jsonl")])
    assert result.exit_code == 1
    assert result.output.strip() == (f"error: {final / 'config.yaml'}: cannot read the "
                                     f"checkpoint's training config ({why}): fix or remove it")
    assert not (tmp_path / "preds.jsonl").exists()


def test_a_garbage_run_record_or_model_record_is_an_error(tmp_path):
    final = _checkpoint(tmp_path, config=CONFIG, run='{"total_steps": 3')
    with pytest.raises(ModelLoadError) as err:
        checkpoint_info(str(final))
    assert str(err.value) == (f"{final.parent / 'run.json'}: cannot read the checkpoint's run "
                              "record (invalid JSON: Expecting ',' delimiter, line 1): fix or "
                              "remove it")
    (final.parent / "run.json").unlink()
    (final / "rhf_model.json").write_text("[96]")
    with pytest.raises(ModelLoadError) as err:
        checkpoint_info(str(final))
    assert str(err.value) == (f"{final / 'rhf_model.json'}: cannot read the checkpoint's model "
                              "record (a list, not a mapping): fix or remove it")


def test_a_checkpoint_without_its_files_keeps_the_defaults(tmp_path):
    bare = _checkpoint(tmp_path)
    info = checkpoint_info(str(bare))
    assert info == {"path": str(bare), "peft": False}
    assert (chain_order_of(info), trained_source_length(info)) == ("answer_first", None)


def test_a_readable_config_gives_the_trained_chain_order_and_length(tmp_path):
    final = _checkpoint(tmp_path, config=CONFIG, run=json.dumps({"total_steps": 3}))
    info = checkpoint_info(str(final))
    assert (chain_order_of(info), trained_source_length(info)) == ("reasoning_first", 96)
    assert info["run"] == {"total_steps": 3}


def test_publishing_with_a_garbage_run_json_is_an_error(tmp_path):
    from eval.publish import log_to_trackers
    from feedback_data.errors import DataError

    final = _checkpoint(tmp_path, config=CONFIG, run="not json")
    (final.parent / "trackers.json").write_text("{}")
    with pytest.raises(DataError) as err:
        log_to_trackers({"accuracy": {}, "config": {}}, ("tensorboard",), str(final),
                        tmp_path / "eval", log=lambda _m: None)
    assert str(err.value) == (f"{final.parent / 'run.json'}: cannot read the training run's "
                              "step count (invalid JSON: Expecting value, line 1): fix it before "
                              "logging the evaluation to its trackers")
    assert not (tmp_path / "eval").exists() and sorted(
        p.name for p in final.parent.iterdir()) == ["final", "run.json", "trackers.json"]
