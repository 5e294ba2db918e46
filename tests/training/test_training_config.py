"""Configs: every shipped YAML loads; unknown keys and bad values are one-line errors."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest

from training.run.config import ConfigError, RecipeConfig, describe
from training.run.config_load import load_config, parse_overrides, split_launch_args

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
RECIPE_YAMLS = sorted(p for p in CONFIGS.glob("*/*.yaml") if p.parent.name != "accelerate")
ACCELERATE_YAMLS = sorted((CONFIGS / "accelerate").glob("*.yaml"))


def test_configs_are_shipped():
    names = {f"{p.parent.name}/{p.name}" for p in RECIPE_YAMLS}
    for obj in ("multitask", "refine"):
        for size in ("tiny", "flan-t5-base", "flan-t5-large", "flan-t5-xl_lora"):
            assert f"{obj}/{size}.yaml" in names
    assert {p.stem for p in ACCELERATE_YAMLS} >= {"single_gpu", "ddp", "fsdp",
                                                   "deepspeed_zero2"}


@pytest.mark.parametrize("path", RECIPE_YAMLS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_recipe_config_loads(path):
    cfg = load_config(path)
    assert cfg.objective == path.parent.name
    text = path.read_text()
    assert text.startswith("#") and ("accelerate launch" in text or "rhf train" in text)
    if "lora" in path.stem:
        assert cfg.model.lora_r > 0


@pytest.mark.parametrize("path", ACCELERATE_YAMLS, ids=lambda p: p.name)
def test_every_accelerate_config_loads(path):
    from accelerate.commands.config.config_args import load_config_from_file

    assert load_config_from_file(str(path)).num_processes >= 1
    assert "accelerate launch --config_file" in path.read_text()


def test_every_field_has_help():
    for group in dataclasses.fields(RecipeConfig):
        assert group.metadata["help"]
        hint = typing.get_type_hints(RecipeConfig)[group.name]
        if dataclasses.is_dataclass(hint):
            for f in dataclasses.fields(hint):
                assert f.metadata.get("help"), f"{group.name}.{f.name} has no help"
                assert f"  {f.name}:" in describe()


def test_overrides_in_every_form():
    cfg = load_config(overrides=["lr=1e-4", "--max-steps", "5", "--resume", "--lora-r=8",
                                 "data.tasks=[strategyqa]", "--model", "m", "--out", "o",
                                 "lora_target_modules=[q,k,v]"], objective="refine")
    assert cfg.train.lr == 1e-4 and cfg.train.max_steps == 5 and cfg.train.resume
    assert cfg.model.lora_r == 8 and cfg.model.lora_target_modules == ["q", "k", "v"]
    assert cfg.data.tasks == ["strategyqa"] and cfg.objective == "refine"
    assert cfg.model.name_or_path == "m" and cfg.train.output_dir == "o"
    assert split_launch_args(["--config", "a.yaml", "x=1"]) == ("a.yaml", ["x=1"])


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("objective: refine\ntrain:\n  lr: 0.01\n  batch_size: 4\n")
    cfg = load_config(path, ["batch_size=2"])
    assert cfg.train.lr == 0.01 and cfg.train.batch_size == 2 and cfg.objective == "refine"


@pytest.mark.parametrize("text, message", [
    ("train:\n  lrr: 1\n", r"unknown config key\(s\) \['lrr'\] in 'train'"),
    ("trian:\n  lr: 1\n", r"unknown config key\(s\) \['trian'\]"),
    ("train:\n  batch_size: many\n", "train.batch_size: expected an integer"),
    ("train:\n  scheduler: cosin\n", "not one of"),
    ("objective: pretrain\n", "objective: 'pretrain' is not one of"),
    ("- a\n", "expected a mapping"),
])
def test_bad_yaml_is_a_one_line_error(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("args, message", [
    (["foo=1"], "unknown config key 'foo'"),
    (["lr=fast"], "train.lr: expected a number"),
    (["stray"], "use key=value"),
    (["data.term_weights={answr: 1}"], "unknown multitask term"),
])
def test_bad_overrides(args, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=args)


def test_parse_overrides_reads_yaml_values():
    assert parse_overrides(["tasks=[]", "pairs_file=null", "tensorboard=false"]) == {
        "data.tasks": [], "data.pairs_file": None, "train.tensorboard": False}
