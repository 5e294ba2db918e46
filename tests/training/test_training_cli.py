"""`rhf train`: the objective flag, overrides in both forms, one-line errors, `merge`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rhf_cli import app

runner = CliRunner()
TINY_YAML = Path(__file__).resolve().parents[2] / "configs" / "multitask" / "tiny.yaml"


def _fast(tiny_model, out):
    return ["--model", str(tiny_model), "--out", str(out), "max_records=16",
            "max_source_len=48", "max_target_len=32", "--max-steps", "2", "batch_size=8",
            "report_to=[jsonl]", "progress_bar=false", "eval_fraction=0", "save_every=2"]


def test_train_refine_then_resume(tiny_model, tmp_path):
    out = tmp_path / "rf"
    result = runner.invoke(app, ["train", "--objective", "refine", *_fast(tiny_model, out)])
    assert result.exit_code == 0, result.output
    assert (out / "final" / "model.safetensors").is_file()
    assert (out / "checkpoints" / "step-2" / "trainer_state.json").is_file()
    for name in ("config.yaml", "run.json", "metrics.jsonl"):
        assert (out / name).is_file()
    again = runner.invoke(app, ["train", "--objective", "refine", "--resume",
                                *_fast(tiny_model, out)])
    assert again.exit_code == 0, again.output


def test_train_with_a_config_file_and_lora_then_merge(tiny_model, tmp_path):
    out = tmp_path / "mt"
    result = runner.invoke(app, ["train", "--config", str(TINY_YAML),
                                 "--lora-r", "4", *_fast(tiny_model, out)])
    assert result.exit_code == 0, result.output
    assert (out / "final" / "adapter_config.json").is_file()
    merged = runner.invoke(app, ["train", "merge", str(out / "final"), str(tmp_path / "m")])
    assert merged.exit_code == 0, merged.output
    assert (tmp_path / "m" / "model.safetensors").is_file()


def test_user_mistakes_are_one_line_errors(tiny_model, tmp_path):
    empty = tmp_path / "empty-model"  # exists, holds no config
    empty.mkdir()
    cases = [
        (["--objective", "refine", "--model", str(tiny_model), "--out", str(tmp_path / "a"),
          "max_stepz=3"], "unknown config key 'max_stepz'"),
        (["--objective", "pretrain", "--model", str(tiny_model), "--out", str(tmp_path)],
         "--objective must be multitask or refine"),
        (["--objective", "refine", "--model", str(tmp_path / "nope"), "--out",
          str(tmp_path / "b")], "not found"),
        (["--objective", "refine", "--out", str(tmp_path / "c")], "no model given"),
        (["--objective", "refine", "--model", str(empty), "--out", str(tmp_path / "e")],
         f"cannot load the tokenizer of '{empty}'"),
        (["--objective", "refine", "--model", str(tiny_model), "--out", str(tmp_path / "d"),
          "lora_target_modules=[query]", "lora_r=2"], "match no module"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["train", *args])
        assert result.exit_code == 1, result.output
        assert message in result.output
        assert "Traceback" not in result.output


def test_help_config_lists_the_keys():
    result = runner.invoke(app, ["train", "--help-config"])
    assert result.exit_code == 0 and "max_source_len" in result.output
