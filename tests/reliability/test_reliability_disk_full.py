"""A full disk: one line naming the folder, the bytes needed and what was kept; the previous
checkpoint (or file) stays valid, the half-written one is removed, exit 1, no traceback.
Training warns before a checkpoint that may not fit.

On a real full disk where the platform allows it (a small tmpfs, mounted when the tests run
as root); elsewhere (or with RHF_TEST_NO_TMPFS=1) the same assertions run with the write
failing as a full disk makes it fail (ENOSPC, or torch.save's errno-less RuntimeError),
injected.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rhf_cli import app
from tests.reliability.conftest import FAST, snapshot
from training.run import checkpoint as ckpt
from training.run.checkpoint import verify_checkpoint

runner = CliRunner()


class Disk:
    """A folder on a small filesystem (``real``), or a plain folder whose writes the test
    makes fail as a full disk does."""

    def __init__(self, path: Path, real: bool) -> None:
        self.path, self.real = path, real

    def resize(self, size: str) -> None:
        if self.real:
            subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    mounted: list[Path] = []

    def make(size: str) -> Disk:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        if os.environ.get("RHF_TEST_NO_TMPFS"):
            return Disk(folder, False)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                               str(folder)], capture_output=True)
        if done.returncode == 0:
            mounted.append(folder)
        return Disk(folder, done.returncode == 0)

    yield make
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _enospc() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


PAGE = 4096  # tmpfs hands out whole pages
FREE = r"[\d.]+ (bytes|kB|MB|GB|TB) free"


def _fill(folder: Path, leave: int) -> None:
    """Use up the filesystem's room but ``leave`` bytes (a multiple of PAGE on tmpfs)."""
    free = shutil.disk_usage(folder).free
    if free > leave:
        (folder / "filler").write_bytes(b"\0" * (free - leave))


# --- training ---------------------------------------------------------------------------------

def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(rel_tiny_model, small_disk,
                                                                monkeypatch):
    disk = small_disk("40m")  # a tiny-T5 checkpoint is 28 MB: one fits, not two
    run = disk.path / "run"
    if not disk.real:
        import torch

        from feedback_data.files import disk_full
        from training.run import checkpoint_room

        real_save, full = torch.save, []

        def save(obj, path, *a, **k):  # the step-4 checkpoint's optimizer.pt fails midway
            if "tmp-step-4" in str(path) and str(path).endswith("optimizer.pt"):
                Path(path).write_bytes(b"\0" * 1000)
                full.append(True)
                raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")
            return real_save(obj, path, *a, **k)

        def free(_path):  # 12 MB before that write, nearly nothing after it
            return 500_000 if full else 12_000_000

        monkeypatch.setattr(torch, "save", save)
        monkeypatch.setattr(disk_full, "free_bytes", free)
        monkeypatch.setattr(checkpoint_room, "free_bytes", free)
    args = ["train", "--objective", "refine", "--model", str(rel_tiny_model), "--out", str(run),
            *[f"{k}={v}" for k, v in FAST.items()], "max_steps=4", "save_every=2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    folder = run / "checkpoints"
    assert re.search(rf"^warning: {re.escape(str(folder))} has [\d.]+ MB free; the last "
                     r"checkpoint took 27\.\d MB: the next checkpoint may not fit \(free some "
                     r"room\)$", result.output, re.MULTILINE), result.output
    error = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and re.fullmatch(
        rf"error: disk full in {re.escape(str(folder))}: needs about 27\.\d MB \({FREE}\); "
        rf"kept {re.escape(str(folder / 'step-2'))} \(valid\), removed the "
        r"half-written \.tmp-step-4; free some room, then resume with: rhf train .* --resume",
        error[0]), error
    assert [p.name for p in folder.iterdir()] == ["step-2"]  # nothing half-written left
    verify_checkpoint(folder / "step-2")
    assert not (run / "final").exists() and not (run / ".lock").exists()

    disk.resize("120m")  # room again: the run resumes from step 2 and finishes
    monkeypatch.undo()
    result = runner.invoke(app, [*args, "--resume"])
    assert result.exit_code == 0, result.output
    assert ckpt.read_state(ckpt.list_checkpoints(run)[-1])["step"] == 4
    assert (run / "final" / "model.safetensors").is_file()


# --- export, evaluation, chains -------------------------------------------------------------

@pytest.fixture
def many_records(tmp_path, monkeypatch):
    """A private RHF_CACHE with 400 small records (about 300 kB as JSONL)."""
    from feedback_data.records.jsonl import write_records
    from feedback_data.sources.paper_import import imported_path
    from tests.reliability.test_reliability_export import _item

    monkeypatch.setenv("RHF_CACHE", str(tmp_path / "cache"))
    items = [_item(i) for i in range(400)]
    write_records(imported_path("strategyqa", "train"), items)
    return items


@pytest.mark.parametrize("fmt, name", [("jsonl", "feedback.jsonl"), ("hf", "feedback-hf")])
def test_a_full_disk_during_an_export_leaves_the_old_target(many_records, small_disk,
                                                            monkeypatch, fmt, name):
    disk = small_disk("96k")  # the 400 records take 283 kB as JSONL, 146 kB as a dataset
    out = disk.path / name
    if fmt == "jsonl":
        out.write_text("the old export\n")
    else:
        out.mkdir()  # an earlier dataset export (save_to_disk writes state.json)
        (out / "state.json").write_text('{"the old export": true}')
    before = snapshot(disk.path)
    if not disk.real:
        import datasets

        import feedback_data.records.jsonl as jsonl

        def fail(*_a, **_k):
            raise _enospc()

        monkeypatch.setattr(jsonl.os, "fsync", fail)
        monkeypatch.setattr(datasets.Dataset, "save_to_disk", fail)
    result = runner.invoke(app, ["data", "export", str(out), "--format", fmt, "--force"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    size = r"(about|more than) [\d.]+ (kB|MB|bytes)" if disk.real or fmt == "jsonl" else \
        r"more room"
    assert re.fullmatch(rf"error: disk full in {re.escape(str(disk.path))}: needs {size} "
                        rf"\({FREE}\); {re.escape(str(out))} was left as it "
                        r"was( \(the half-written copy was removed\))?",
                        result.output.strip().splitlines()[-1]), result.output
    assert snapshot(disk.path) == before  # the old target whole, no temporary left


def test_a_full_disk_during_chain_generation_keeps_the_chains_written(small_disk,
                                                                      monkeypatch):
    from feedback_data.files.disk_full import DiskFull
    from feedback_data.records.jsonl import read_records
    from feedback_data.records.schema import Chain, Example
    from inference.chains import generate_chains
    from inference.toy_models import ScriptedGenerator

    disk = small_disk("64k")
    out = disk.path / "chains.jsonl"
    examples = [Example(id=f"e{i}", task="strategyqa", question=f"Is {i} even?", answer="no")
                for i in range(40)]
    model = ScriptedGenerator(lambda _p, _j: "The answer is no because " + "x" * 1200 + ".")
    if disk.real:
        _fill(disk.path, 3 * PAGE)  # room for the first chunk of 4 chains (10.5 kB), not two
    else:
        import feedback_data.records.jsonl as jsonl

        calls = []

        def fsync(fd):
            calls.append(fd)
            if len(calls) > 1:
                raise _enospc()

        monkeypatch.setattr(jsonl.os, "fsync", fsync)
    with pytest.raises(DiskFull) as info:
        generate_chains(model, examples, "strategyqa", k=0, out=out, chunk=4)
    assert re.fullmatch(rf"disk full in {re.escape(str(disk.path))}: needs about [\d.]+ kB "
                        rf"\({FREE}\); {re.escape(str(out))} keeps the 4 chains "
                        r"written before \(nothing half-written\); free some room and run the "
                        "same command to go on", str(info.value)), str(info.value)
    kept = read_records(out, Chain)  # whole lines only: no torn last line
    assert [c.example_id for c in kept] == ["e0", "e1", "e2", "e3"]

    (disk.path / "filler").unlink(missing_ok=True)
    disk.resize("2m")
    monkeypatch.undo()
    chains = generate_chains(model, examples, "strategyqa", k=0, out=out, chunk=4)
    assert len(chains) == 40 and len(read_records(out, Chain)) == 40


def test_a_full_disk_during_an_evaluation_is_one_line(small_disk, monkeypatch, real_data):
    disk = small_disk("1m")
    out = disk.path / "eval"
    if disk.real:
        _fill(disk.path, 2 * PAGE)  # room for the lock and the mark, not for predictions
    else:
        import feedback_data.records.jsonl as jsonl

        calls = []

        def fsync(fd):
            calls.append(fd)
            if len(calls) > 1:  # the mark is written; the first predictions are not
                raise _enospc()

        monkeypatch.setattr(jsonl.os, "fsync", fsync)
    result = runner.invoke(app, ["eval", "--model", "models/tiny-base", "--base-model",
                                 "models/tiny-base", "--methods", "cot", "--tasks",
                                 "sports_understanding", "--limit", "12", "--max-new-tokens",
                                 "8", "--no-calibration", "--bootstrap", "10", "--out",
                                 str(out)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    pred = out / "predictions" / "cot_sports_understanding_seed0.jsonl"
    assert re.search(rf"^error: disk full in {re.escape(str(pred.parent))}: needs about "
                     rf"[\d.]+ (kB|bytes) \({FREE}\); {re.escape(str(pred))} was "
                     r"left as it was; the files written before it are kept: rerun rhf eval "
                     r"to finish$", result.output, re.MULTILINE), result.output
    assert not pred.exists() and not (out / "report.json").exists()
    assert not [p for p in out.rglob("*.tmp")]
