"""Run folders and checkpoints under bad conditions: each refusal is one exact line and leaves
every file as it was; each tolerated repair says what it did.

A finished tiny run (refine, checkpoints at steps 2 and 4, final/) is trained once and
copied per test; ``crashed_run`` is that copy as if killed after step 2.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from rhf_cli import app
from tests.reliability.conftest import FAST, snapshot, weights
from training.recipe.objectives import train
from training.run import checkpoint as ckpt

runner = CliRunner()


def _refused(cfg, run: Path, error: type, message: str) -> None:
    """train(cfg) raises ``error`` with exactly ``message``, and ``run`` is unchanged."""
    before = snapshot(run)
    with pytest.raises(error) as info:
        train(cfg)
    assert str(info.value) == message
    assert "\n" not in str(info.value)
    assert snapshot(run) == before


def _train_rows(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()
            if "train/loss" in x]


# --- finished runs are never overwritten ------------------------------------------------------

def test_out_over_a_finished_run_without_resume_is_refused(cfg_for, finished_run):
    _refused(cfg_for(finished_run), finished_run, ckpt.RunDirError,
             f"{finished_run} already holds a finished run (final/): pass --resume to continue "
             f"it, or choose another --out (nothing was written)")


def test_out_over_a_finished_run_without_checkpoints_is_refused(cfg_for, finished_run):
    shutil.rmtree(finished_run / "checkpoints")
    _refused(cfg_for(finished_run, **{"train.save_every": 0}), finished_run, ckpt.RunDirError,
             f"{finished_run} already holds a finished run (final/): pass --resume to continue "
             f"it, or choose another --out (nothing was written)")
    _refused(cfg_for(finished_run, **{"train.save_every": 0, "train.resume": True}),
             finished_run, ckpt.RunDirError,
             f"{finished_run} holds a finished run (final/) but no checkpoint to resume from; "
             f"choose another --out (nothing was written)")


def test_out_over_checkpoints_without_resume_is_refused(cfg_for, crashed_run):
    _refused(cfg_for(crashed_run), crashed_run, ckpt.RunDirError,
             f"{crashed_run} already holds checkpoints: pass --resume to continue it, or "
             f"choose another --out (nothing was written)")


def test_rhf_train_over_a_finished_run_is_one_line_exit_1(rel_tiny_model, finished_run):
    before = snapshot(finished_run)
    args = [f"{k}={v}" for k, v in FAST.items()]
    result = runner.invoke(app, ["train", "--objective", "refine", *args, "max_steps=4",
                                 "save_every=2", "--model", str(rel_tiny_model),
                                 "--out", str(finished_run)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"error: {finished_run} already holds a finished run (final/): pass --resume to "
        f"continue it, or choose another --out (nothing was written)")
    assert "Traceback" not in result.output
    assert snapshot(finished_run) == before


# --- a resume with a changed config -----------------------------------------------------------

def test_resume_with_a_changed_lr_is_refused_and_lists_it(cfg_for, crashed_run):
    _refused(cfg_for(crashed_run, **{"train.resume": True, "train.lr": 5e-3}), crashed_run,
             ckpt.ConfigChangeError,
             f"resuming {crashed_run} would change its run-defining config: train.lr 0.001 -> "
             f"0.005; resume with the checkpoint's values, or pass --allow-config-change to "
             f"apply the change (recorded in run.json)")


def test_resume_with_a_changed_batch_size_and_data_is_refused(cfg_for, crashed_run):
    _refused(cfg_for(crashed_run, **{"train.resume": True, "train.batch_size": 4,
                                     "data.max_records": 12}), crashed_run,
             ckpt.ConfigChangeError,
             f"resuming {crashed_run} would change its run-defining config: data.max_records "
             f"16 -> 12; train.batch_size 8 -> 4; resume with the checkpoint's values, or pass "
             f"--allow-config-change to apply the change (recorded in run.json)")


def test_allowed_lr_change_is_applied_and_recorded(cfg_for, crashed_run, finished_run_template):
    train(cfg_for(crashed_run, **{"train.resume": True, "train.lr": 5e-3,
                                  "train.allow_config_change": True}))
    # The constant schedule makes the lr of each step the configured one.
    assert [(r["step"], r["train/lr"]) for r in _train_rows(crashed_run)] == [
        (1, 1e-3), (2, 1e-3), (3, 5e-3), (4, 5e-3)]
    resume = json.loads((crashed_run / "run.json").read_text())["resumes"][-1]
    assert resume["from_step"] == 2 and resume["config_changes"] == {
        "train.lr": [1e-3, 5e-3],
        "train.output_dir": [str(finished_run_template), str(crashed_run)]}  # a copy
    assert yaml.safe_load((crashed_run / "config.yaml").read_text())["train"]["lr"] == 5e-3
    # Not the weights of the old lr (what the resume silently produced before).
    old, new = weights(finished_run_template / "final"), weights(crashed_run / "final")
    assert any(not torch.equal(old[k], new[k]) for k in old)


def test_an_allowed_model_change_that_does_not_fit_writes_nothing(cfg_for, crashed_run):
    step2 = crashed_run / "checkpoints" / "step-2"
    _refused(cfg_for(crashed_run, **{"train.resume": True, "train.allow_config_change": True,
                                     "model.lora_r": 4}), crashed_run, ckpt.CheckpointError,
             f"checkpoint {step2} was written for another model: lora_r 0 there, 4 here; "
             f"lora_target_modules [] there, ['q', 'v'] here")


def test_harmless_changes_need_no_flag_and_are_recorded(cfg_for, crashed_run,
                                                        finished_run_template):
    train(cfg_for(crashed_run, **{"train.resume": True, "train.log_every": 2,
                                  "train.keep_checkpoints": 3}))
    resume = json.loads((crashed_run / "run.json").read_text())["resumes"][-1]
    assert resume["config_changes"] == {
        "train.keep_checkpoints": [5, 3], "train.log_every": [1, 2],
        "train.output_dir": [str(finished_run_template), str(crashed_run)]}
    old, new = weights(finished_run_template / "final"), weights(crashed_run / "final")
    assert all(torch.equal(old[k], new[k]) for k in old)  # the same run, bit for bit


# --- corrupt checkpoints ------------------------------------------------------------------------

def test_flipped_bytes_in_the_weights_are_named(cfg_for, crashed_run):
    step2 = crashed_run / "checkpoints" / "step-2"
    target = step2 / "model.safetensors"
    data = bytearray(target.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = bytes(b ^ 0xFF for b in data[middle:middle + 4096])
    target.write_bytes(bytes(data))
    _refused(cfg_for(crashed_run, **{"train.resume": True}), crashed_run, ckpt.CheckpointError,
             f"checkpoint {step2}: model.safetensors does not match the sha256 recorded when it "
             f"was saved (corrupt); delete it to resume from the checkpoint before it")


def test_a_missing_checkpoint_file_is_named(cfg_for, crashed_run):
    step2 = crashed_run / "checkpoints" / "step-2"
    (step2 / "optimizer.pt").unlink()
    _refused(cfg_for(crashed_run, **{"train.resume": True}), crashed_run, ckpt.CheckpointError,
             f"checkpoint {step2} is missing optimizer.pt; delete it to resume from the "
             f"checkpoint before it")


def test_a_checkpoint_without_manifest_is_refused(cfg_for, crashed_run):
    step2 = crashed_run / "checkpoints" / "step-2"
    (step2 / "manifest.json").unlink()
    _refused(cfg_for(crashed_run, **{"train.resume": True}), crashed_run, ckpt.CheckpointError,
             f"checkpoint {step2} has no manifest.json (incomplete, or written before rhf "
             f"recorded checksums); delete it to resume from the checkpoint before it")


def test_the_manifest_lists_every_file_of_the_checkpoint(finished_run):
    from feedback_data.files.io import sha256_file

    step4 = finished_run / "checkpoints" / "step-4"
    files = json.loads((step4 / "manifest.json").read_text())["files"]
    on_disk = sorted(p.relative_to(step4).as_posix() for p in step4.rglob("*")
                     if p.is_file() and p.name != "manifest.json")
    assert sorted(files) == on_disk and "model.safetensors" in files
    assert all(files[f] == sha256_file(step4 / f) for f in files)


# --- run files: torn, corrupt, unwritable ------------------------------------------------------

def test_a_torn_last_metrics_line_is_dropped_and_said(cfg_for, crashed_run, capsys):
    metrics = crashed_run / "metrics.jsonl"
    torn = '{"step": 3, "time": 17.5, "train/lo'
    metrics.write_text(metrics.read_text() + torn)
    train(cfg_for(crashed_run, **{"train.resume": True}))
    assert (f"{metrics}: dropped a torn last line ({len(torn)} bytes) left by an interrupted "
            f"write") in capsys.readouterr().out
    assert [r["step"] for r in _train_rows(crashed_run)] == [1, 2, 3, 4]


def test_a_bad_line_inside_metrics_is_named(cfg_for, crashed_run):
    metrics = crashed_run / "metrics.jsonl"
    lines = metrics.read_text().splitlines(keepends=True)
    metrics.write_text(lines[0] + "not json\n" + "".join(lines[1:]))
    _refused(cfg_for(crashed_run, **{"train.resume": True}), crashed_run, ckpt.RunDirError,
             f"{metrics}:2: invalid JSON; fix or delete that line to resume (nothing was "
             f"written)")


def test_a_corrupt_run_json_is_named_with_its_backup(cfg_for, crashed_run):
    (crashed_run / "run.json").write_text('{"objective": "refine", "se')
    _refused(cfg_for(crashed_run, **{"train.resume": True}), crashed_run, ckpt.RunDirError,
             f"{crashed_run / 'run.json'} is unreadable (Unterminated string starting at: "
             f"line 1 column 25 (char 24)); restore it from "
             f"{crashed_run / 'checkpoints' / 'step-2' / 'run.json'} to resume (nothing was "
             f"written)")


def test_an_output_path_that_is_a_file_is_refused(cfg_for, tmp_path):
    out = tmp_path / "taken"
    out.write_text("keep me")
    _refused(cfg_for(out), out, ckpt.RunDirError, f"output folder {out} is a file")
    assert out.read_text() == "keep me"


@pytest.fixture
def read_only_dir(tmp_path):
    """An empty folder nobody may write to (chmod, or the immutable flag when root)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if os.geteuid() == 0:
        immutable = subprocess.run(["chattr", "+i", str(folder)],
                                   capture_output=True).returncode == 0
    try:
        (folder / ".probe").touch()
    except OSError:
        pass
    else:
        (folder / ".probe").unlink()
        pytest.skip("cannot make a read-only folder here (root without chattr)")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_a_read_only_output_folder_is_one_line(cfg_for, read_only_dir):
    with pytest.raises(ckpt.RunDirError) as info:
        train(cfg_for(read_only_dir))
    assert re.fullmatch(rf"cannot write to {re.escape(str(read_only_dir))}: "
                        r"(Permission denied|Operation not permitted)", str(info.value))
    assert snapshot(read_only_dir) == {}


# --- command lines: paths as written, --resume anywhere ------------------------------------------

def test_rhf_train_writes_to_the_folder_it_is_given(rel_tiny_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [f"{k}={v}" for k, v in FAST.items()]
    # Overrides first, then --out, --model and a bare --resume last: the after-crash line.
    result = runner.invoke(app, ["train", "--objective", "refine", *args, "max_steps=1",
                                 "--out", "exp #2", "--model", str(rel_tiny_model),
                                 "--resume"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "exp #2" / "final" / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp #2"]
    result = runner.invoke(app, ["train", "--objective", "refine", "--out", "010", *args,
                                 "max_steps=1", "--model", str(rel_tiny_model)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["010", "exp #2"]
