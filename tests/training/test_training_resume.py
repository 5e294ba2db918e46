"""Resume equals an uninterrupted run (bitwise on CPU), survives kill -9, refuses bad
checkpoints with a clear error, and loads weights only through safe loaders."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.training.conftest import weights
from training.recipe.objectives import train
from training.run import checkpoint as ckpt
from training.run.checkpoint import verify_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def _train_steps(run_dir: Path) -> list[int]:
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [x["step"] for x in lines if "train/loss" in x]


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


OBJECTIVES = pytest.mark.parametrize("objective", ["multitask", "refine"])


@OBJECTIVES
@pytest.mark.parametrize("extra", [
    {"train.grad_accum": 2},  # data position mid-epoch, accumulation groups across epochs
    {"model.lora_r": 4, "model.lora_dropout": 0.2},  # dropout: RNG states must be restored
    {"train.max_tokens": 500, "train.grad_accum": 2},  # token-budget batches, mid-epoch
    {"train.weights_dtype": "bfloat16"},  # the fp32 master weights travel in optimizer.pt
], ids=["full-accum", "lora-dropout", "token-budget", "bf16-master"])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(make_cfg, tmp_path, extra,
                                                               objective):
    settings = {"data.max_records": 16, "train.max_steps": 8, "train.save_every": 3,
                "train.keep_checkpoints": 5, **extra}
    run = tmp_path / "run"
    final = train(make_cfg(objective, out=run, **settings))
    uninterrupted = weights(final)
    steps_before = _train_steps(run)
    # Throw away everything after step 3 (a crash there), then resume.
    for name in ("step-6", "step-8"):
        shutil.rmtree(run / "checkpoints" / name)
    shutil.rmtree(final)
    state = ckpt.read_state(run / "checkpoints" / "step-3")
    assert state["step"] == 3 and state["objective"] == objective
    resumed = train(make_cfg(objective, out=run, **settings, **{"train.resume": True}))
    _assert_same(uninterrupted, weights(resumed))
    assert _train_steps(run) == steps_before == list(range(1, 9))
    assert json.loads((run / "run.json").read_text())["resumes"][0]["from_step"] == 3


@OBJECTIVES
def test_kill_9_then_resume_loses_only_the_steps_since_the_checkpoint(make_cfg, tmp_path,
                                                                      tiny_model, objective):
    settings = {"train.max_steps": 14, "train.save_every": 3, "data.max_records": 16}
    reference = weights(train(make_cfg(objective, out=tmp_path / "ref", **settings)))

    run = tmp_path / "run"
    args = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in
            {**__import__("tests.training.conftest", fromlist=["FAST"]).FAST, **settings,
             "model.name_or_path": str(tiny_model), "train.output_dir": str(run),
             "train.step_sleep": 0.2}.items()]
    proc = subprocess.Popen([sys.executable, "-m", f"training.recipe.{objective}", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while not (run / "checkpoints" / "step-6").is_dir():
        assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
        assert time.time() < deadline, "no checkpoint within 60 s"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "final").exists()
    last = ckpt.list_checkpoints(run)[-1]
    last_step = ckpt.read_state(last)["step"]
    assert last_step >= 6

    resumed = train(make_cfg(objective, out=run, **settings, **{"train.resume": True}))
    _assert_same(reference, weights(resumed))
    assert _train_steps(run) == list(range(1, 15))  # no gaps, no duplicates


def test_a_kill_during_a_save_leaves_the_previous_checkpoint_whole(make_cfg, tmp_path,
                                                                   monkeypatch):
    settings = {"train.max_steps": 4, "train.save_every": 2}
    real_save = torch.save

    def dying_save(obj, path, *a, **kw):
        if ".tmp-step-4" in str(path) and str(path).endswith("scheduler.pt"):
            raise KeyboardInterrupt("killed mid-save")
        return real_save(obj, path, *a, **kw)

    monkeypatch.setattr(torch, "save", dying_save)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(make_cfg("refine", out=run, **settings))
    monkeypatch.setattr(torch, "save", real_save)
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["step-2"]
    assert (run / "checkpoints" / ".tmp-step-4").is_dir()  # the half-written one, ignored
    final = train(make_cfg("refine", out=run, **settings, **{"train.resume": True}))
    assert (final / "model.safetensors").is_file()
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["step-2", "step-4"]


@pytest.fixture
def saved_run(make_cfg, tmp_path):
    run = tmp_path / "run"
    train(make_cfg("refine", out=run, **{"train.max_steps": 2, "train.save_every": 2}))
    return run


def test_a_corrupt_checkpoint_is_a_clear_error(make_cfg, saved_run):
    target = saved_run / "checkpoints" / "step-2" / "model.safetensors"
    original = target.read_bytes()
    target.write_bytes(original[:1000])
    with pytest.raises(ckpt.CheckpointError, match=r"step-2: model.safetensors does not "
                                                   r"match the sha256 recorded"):
        train(make_cfg("refine", out=saved_run, **{"train.max_steps": 2,
                                                   "train.resume": True}))
    target.write_bytes(original)
    (saved_run / "checkpoints" / "step-2" / "trainer_state.json").write_text("{")
    with pytest.raises(ckpt.CheckpointError, match="trainer_state.json does not match"):
        train(make_cfg("refine", out=saved_run, **{"train.resume": True}))


def test_final_has_a_manifest_and_a_corrupt_file_in_it_is_detected(saved_run):
    from typer.testing import CliRunner

    from rhf_cli import app

    final = saved_run / "final"
    listed = json.loads((final / "manifest.json").read_text())["files"]
    on_disk = {p.name for p in final.iterdir() if p.name != "manifest.json"}
    assert set(listed) == on_disk and {"model.safetensors", "config.yaml"} <= on_disk
    assert verify_checkpoint(final) == len(on_disk)
    ok = CliRunner().invoke(app, ["train", "verify", str(final)])
    assert ok.exit_code == 0 and f"{len(on_disk)} files match" in ok.output, ok.output

    target = final / "model.safetensors"
    target.write_bytes(target.read_bytes()[:1000])
    with pytest.raises(ckpt.CheckpointError, match=r"final: model.safetensors does not match "
                                                   r"the sha256 recorded"):
        verify_checkpoint(final)
    bad = CliRunner().invoke(app, ["train", "verify", str(final)])
    assert bad.exit_code == 1 and "model.safetensors does not match" in bad.output


def test_a_checkpoint_of_another_objective_is_refused(make_cfg, saved_run):
    with pytest.raises(ckpt.CheckpointError, match="from a 'refine' run; this is a "
                                                   "'multitask' run"):
        train(make_cfg("multitask", out=saved_run, **{"train.resume": True}))


def test_a_checkpoint_of_another_model_size_is_refused(make_cfg, saved_run, tiny_model,
                                                       tmp_path):
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

    config = AutoConfig.from_pretrained(tiny_model)
    config.d_model, config.d_kv = 64, 16
    other = tmp_path / "other"
    AutoModelForSeq2SeqLM.from_config(config).save_pretrained(other)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(other)
    with pytest.raises(ckpt.CheckpointError, match="another model: d_model 128 there, 64 here"):
        train(make_cfg("refine", out=saved_run, **{"model.name_or_path": str(other),
                                                   "train.resume": True,
                                                   "train.allow_config_change": True}))
    with pytest.raises(ckpt.CheckpointError, match="lora_r 0 there, 4 here"):
        train(make_cfg("refine", out=saved_run, **{"model.lora_r": 4, "train.resume": True,
                                                   "train.allow_config_change": True}))


def test_shape_mismatch_inside_the_weights_is_named(saved_run, tiny_model, tmp_path):
    from transformers import AutoConfig, AutoModelForSeq2SeqLM

    config = AutoConfig.from_pretrained(tiny_model)
    config.d_ff = 256
    with pytest.raises(ckpt.CheckpointError, match=r"does not fit this model \(.*wi_0"):
        ckpt.load_weights(saved_run / "checkpoints" / "step-2",
                          AutoModelForSeq2SeqLM.from_config(config))


def test_weights_are_loaded_only_through_safe_loaders():
    for path in (ROOT / "training").glob("*.py"):
        text = path.read_text()
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, f"{path.name}: {call}"
        assert "pickle" not in text, path.name
