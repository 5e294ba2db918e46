"""Every documented way of calling `rhf train`, parsed with public click/typer hooks only:
options and overrides in any order, both override forms, --resume anywhere, paths taken as
written, the config files' own launch lines, help, and the merge / verify sub-commands.

The training itself is replaced by a stand-in that records the config it was given."""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rhf_cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def given(monkeypatch, tmp_path):
    """Run `rhf train ARGS` with training replaced: returns the RecipeConfig it got."""
    import training.recipe.objectives

    seen = []

    def fake_train(cfg):
        seen.append(cfg)
        return tmp_path / "final"

    monkeypatch.setattr(training.recipe.objectives, "train", fake_train)

    def run(args: list[str]):
        seen.clear()
        result = runner.invoke(app, ["train", *args])
        assert result.exit_code == 0, result.output
        assert result.output.strip().endswith(f"final model: {tmp_path / 'final'}")
        (cfg,) = seen
        return cfg

    return run


def test_the_basic_launch(given):
    cfg = given(["--objective", "multitask", "--model", "/tmp/tiny", "--out", "runs/mt"])
    assert (cfg.objective, cfg.model.name_or_path, cfg.train.output_dir) == (
        "multitask", "/tmp/tiny", "runs/mt")
    assert cfg.train.resume is False


@pytest.mark.parametrize("args", [
    ["--objective", "refine", "--model", "M", "--out", "R", "--resume"],
    ["--resume", "--objective", "refine", "--model", "M", "--out", "R"],
    ["--objective", "refine", "--resume", "lr=1e-3", "--model", "M", "--out", "R"],
    ["--objective", "refine", "--model", "M", "--out", "R", "max_steps=3", "--resume"],
    ["--objective", "refine", "--model", "M", "--out", "R", "train.resume=true"],
], ids=["last", "first", "middle", "after-overrides", "dotted"])
def test_resume_anywhere_on_the_line(given, args):
    cfg = given(args)
    assert cfg.train.resume is True and cfg.train.output_dir == "R"
    assert cfg.objective == "refine"


def test_overrides_in_both_forms_and_in_any_order(given):
    cfg = given(["lr=1e-4", "--objective", "multitask", "--max-steps", "200", "--model", "M",
                 "--lora-r", "16", "--out", "R", "data.extra_feedback=[feedback.jsonl]",
                 "data.pairs_file=pairs.jsonl", "--batch_size=4", "train.seed=7"])
    assert cfg.train.lr == 1e-4 and cfg.train.max_steps == 200 and cfg.model.lora_r == 16
    assert cfg.data.extra_feedback == ["feedback.jsonl"]
    assert cfg.data.pairs_file == "pairs.jsonl"
    assert cfg.train.batch_size == 4 and cfg.train.seed == 7


def test_allow_config_change_with_resume(given):
    cfg = given(["--objective", "refine", "--model", "M", "--out", "R", "--resume",
                 "--allow-config-change", "lr=5e-3"])
    assert cfg.train.allow_config_change is True and cfg.train.lr == 5e-3


@pytest.mark.parametrize("out", ["exp #2", "010", "yes", "merge", "verify", "--weird"[2:]])
def test_paths_are_taken_as_written_even_a_sub_commands_name(given, out):
    for args in (["--out", out], [f"--out={out}"], [f"out={out}"]):
        cfg = given(["--objective", "refine", "--model", "M", *args])
        assert cfg.train.output_dir == out


def test_a_config_file_then_options(given):
    cfg = given(["--config", str(ROOT / "configs/refine/tiny.yaml"), "--model", "M",
                 "--out", "R"])
    assert cfg.objective == "refine" and cfg.model.name_or_path == "M"
    cfg = given([f"--config={ROOT / 'configs/multitask/tiny.yaml'}", "--out", "R",
                 "--model", "M"])
    assert cfg.objective == "multitask"


def _documented_lines() -> list[list[str]]:
    """Every `rhf train ...` launch line in a config's header comment and in the docs."""
    lines = []
    for path in sorted((ROOT / "configs").rglob("*.yaml")):
        for line in path.read_text().splitlines():
            text = line.lstrip("# ").strip()
            if text.startswith("rhf train "):
                lines.append(shlex.split(text)[2:])
    return lines


@pytest.mark.parametrize("args", _documented_lines(), ids=lambda a: " ".join(a)[:60])
def test_every_launch_line_in_the_configs(given, args, monkeypatch):
    monkeypatch.chdir(ROOT)
    cfg = given(args)
    assert cfg.train.output_dir and cfg.model.name_or_path


def test_help_no_arguments_and_help_config():
    for args in (["train", "--help"], ["train"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0
        for word in ("--objective", "--model", "--out", "--resume", "--allow-config-change",
                     "--help-config", "KEY=VALUE", "rhf train merge", "rhf train verify"):
            assert word in result.output, (args, word)
    result = runner.invoke(app, ["train", "--help-config"])
    assert result.exit_code == 0 and "max_source_len" in result.output


def test_the_sub_commands(tmp_path):
    result = runner.invoke(app, ["train", "merge", "--help"])
    assert result.exit_code == 0 and "LoRA adapter" in result.output
    result = runner.invoke(app, ["train", "verify", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("error: ")


def test_a_misspelt_sub_command_is_one_line():
    result = runner.invoke(app, ["train", "mrege", "a", "b"])
    assert result.exit_code == 1
    assert result.output.strip() == ("error: cannot read override 'mrege': use key=value or "
                                     "--key value")


def test_no_private_click_api_anywhere():
    """`ctx._protected_args` (and the deprecated `protected_args`) are click internals that
    a click release may drop; nothing in the toolkit touches them."""
    used = []
    for package in ("feedback_data", "annotation", "training", "inference", "eval",
                    "pipeline"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr in ("_protected_args",
                                                                     "protected_args"):
                    used.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert used == []
