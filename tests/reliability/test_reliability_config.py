"""Bad config values and command lines: one line each, nothing written.

Pure: no data, no model. The CLI cases run `rhf train` and check that the output folder was
never created.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rhf_cli import app
from training.run.config import ConfigError
from training.run.config_load import load_config, parse_overrides, split_launch_args


@pytest.mark.parametrize("override, message", [
    ("lr=-1", "train.lr must be > 0, got -1.0"),
    ("lr=0", "train.lr must be > 0, got 0.0"),
    ("lr=nan", "train.lr: expected a finite number, got nan"),
    ("lr=.inf", "train.lr: expected a finite number, got inf"),
    ("lr=1" + "0" * 400, "train.lr: expected a finite number, got 1" + "0" * 400),
    ("seed=1099511627776", "train.seed must be in [0, 2**32), got 1099511627776"),
    ("log_every=0", "train.log_every must be >= 1, got 0"),
    ("warmup_ratio=2", "train.warmup_ratio must be in [0, 1], got 2.0"),
    ("adam_beta2=1", "train.adam_beta2 must be in [0, 1), got 1.0"),
    ("lora_dropout=-0.1", "model.lora_dropout must be in [0, 1), got -0.1"),
    ("max_source_len=0", "data.max_source_len must be >= 1, got 0"),
])
def test_out_of_range_values_are_one_line(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[override])
    assert str(info.value) == message


def test_a_number_where_a_path_goes_in_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  output_dir: 010\n")  # YAML 1.1 reads 010 as octal 8
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == "train.output_dir: expected text, got 8 (quote it in YAML)"


def test_an_option_without_its_value_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        parse_overrides(["lr=1e-3", "--max-steps"])
    assert str(info.value) == "--max-steps needs a value"


@pytest.mark.parametrize("text", ["exp #2", "010", "yes", "1e3", "[a, b]", "runs/x: y"])
def test_paths_and_model_ids_are_taken_as_written(text: str) -> None:
    for args in (["--out", text, "--model", text], [f"out={text}", f"model={text}"],
                 [f"train.output_dir={text}", f"model.name_or_path={text}"]):
        cfg = load_config(overrides=args)
        assert cfg.train.output_dir == text and cfg.model.name_or_path == text, args


@pytest.mark.parametrize("argv", [
    ["--resume", "train.max_steps=30", "--out", "R"],
    ["train.max_steps=30", "--out", "R", "--resume"],
    ["--config", "X", "--resume", "train.max_steps=30", "--out", "R"],
    ["train.max_steps=30", "--resume", "--out", "R"],
], ids=["first", "last", "after-config", "middle"])
def test_resume_never_takes_the_next_argument(argv: list[str]) -> None:
    # What `python -m training.recipe.multitask ARGS` (and accelerate launch) does with its line.
    path, overrides = split_launch_args(argv)
    assert path == ("X" if "--config" in argv else None)
    assert parse_overrides(overrides) == {"train.resume": True, "train.max_steps": 30,
                                          "train.output_dir": "R"}


def test_resume_can_be_turned_off_explicitly() -> None:
    assert parse_overrides(["--resume=false", "--allow-config-change"]) == {
        "train.resume": False, "train.allow_config_change": True}


runner = CliRunner()


@pytest.mark.parametrize("bad, message", [
    ("lr=-1", "error: train.lr must be > 0, got -1.0"),
    ("lr=nan", "error: train.lr: expected a finite number, got nan"),
    ("--max-steps", "error: --max-steps needs a value"),
])
def test_rhf_train_bad_values_exit_1_without_creating_the_folder(tmp_path: Path, bad: str,
                                                                 message: str) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--objective", "refine", "--model", "m", "--out",
                                 str(out), "max_steps=2", bad])
    assert result.exit_code == 1
    assert result.output.strip() == message
    assert not out.exists()


def test_init_tiny_never_overwrites_a_folder(tmp_path: Path) -> None:
    from tests.reliability.conftest import snapshot

    out = tmp_path / "tiny"
    out.mkdir()
    (out / "config.json").write_text("{}")
    before = snapshot(out)
    result = runner.invoke(app, ["model", "init-tiny", str(out)])
    assert result.exit_code == 1
    assert result.output.strip() == (f"error: {out} already exists and is not an empty "
                                     f"folder; choose another OUT")
    assert snapshot(out) == before


def test_pretrain_tiny_never_overwrites_a_run(tmp_path: Path) -> None:
    from tests.reliability.conftest import snapshot

    out = tmp_path / "pt"
    (out / "run" / "final").mkdir(parents=True)
    (out / "pretrain_pairs.jsonl").write_text("{}\n")
    before = snapshot(out)
    result = runner.invoke(app, ["model", "pretrain-tiny", str(out)])
    assert result.exit_code == 1
    assert result.output.strip() == (f"error: {out} already holds a pre-training run "
                                     f"({out / 'run'}); choose another OUT")
    assert snapshot(out) == before
