"""The `rhf data` and `rhf model` commands, run through the real CLI entry point."""

import json

import pytest
from typer.testing import CliRunner

from rhf_cli import app

runner = CliRunner()


@pytest.mark.usefixtures("real_data")
def test_data_stats_json_matches_library():
    from feedback_data.records.stats import feedback_stats
    from feedback_data.sources.paper_import import load_paper_feedback
    from feedback_data.sources.splits import dev_examples

    result = runner.invoke(app, ["data", "stats", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    sqa = report["tasks"]["strategyqa"]
    assert sqa["feedback"]["train"]["records"] == 1565
    assert sqa["feedback"]["eval"]["records"] == 173
    assert report["tasks"]["sports_understanding"]["feedback"]["train"]["records"] == 796
    assert sqa["calibration_size"] == 173
    assert sqa["dev_size"] == len(dev_examples("strategyqa"))
    expected = feedback_stats(load_paper_feedback("sports_understanding", "train"))
    got = report["tasks"]["sports_understanding"]["feedback"]["train"]
    assert got["error_type_shares"] == expected["error_type_shares"]
    assert "correction_contradicts_gold" in got["flags"]


@pytest.mark.usefixtures("real_data")
def test_data_stats_table_lists_flags():
    result = runner.invoke(app, ["data", "stats"])
    assert result.exit_code == 0
    assert "strategyqa/train" in result.output and "dev set" in result.output
    assert "correction_contradicts_gold" in result.output


def test_data_nowhere_is_one_line_per_source(tmp_path, monkeypatch):
    monkeypatch.setenv("RHF_CACHE", str(tmp_path))
    monkeypatch.setenv("RHF_DATA_DIR", str(tmp_path / "absent"))
    monkeypatch.setenv("RHF_BIGBENCH_URL", "off")
    monkeypatch.setenv("RHF_STRATEGYQA_URL", "off")
    result = runner.invoke(app, ["data", "fetch"])
    assert result.exit_code == 1
    assert result.output.splitlines()[1] == f"  folder {tmp_path / 'absent'}: not a folder"
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("real_data")
def test_init_tiny_loads_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = runner.invoke(app, ["model", "init-tiny", str(tmp_path / "tiny")])
    assert result.exit_code == 0, result.output
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tmp_path / "tiny")
    model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "tiny")
    assert 1e6 < model.num_parameters() < 10e6
    text = "Is it common to see frost during some college commencements?"
    ids = tok(text).input_ids
    assert ids[-1] == tok.eos_token_id == 1 and tok.pad_token_id == 0
    assert tok.decode(ids, skip_special_tokens=True).strip() == text
    # A subword tokenizer: far fewer tokens than bytes.
    assert len(ids) < len(text) / 3
