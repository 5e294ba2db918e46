"""A full disk while eval writes its plots (issue 29, item 5): one line, as for predictions,
and the files already written are kept. On a real 1 MB tmpfs when the tests run as root
(not with RHF_TEST_NO_TMPFS=1); the command-level test, and the unit test elsewhere, simulate
it: the write of a PNG fails with ENOSPC where a full disk raises it (its file's fsync)."""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import feedback_data.records.jsonl as jsonl
from feedback_data.files.disk_full import DiskFull
from rhf_cli import app

runner = CliRunner()


def _png_writes_fail(monkeypatch) -> list[str]:
    """Every fsync of a PNG's temporary file raises ENOSPC; returns the names it failed."""
    real, failed = os.fsync, []

    def fsync(fd):
        name = os.readlink(f"/proc/self/fd/{fd}")
        if ".png." in name:
            failed.append(Path(name).name)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(jsonl.os, "fsync", fsync)
    return failed


@pytest.fixture
def full_disk(tmp_path, monkeypatch):
    """A folder on a 1 MB tmpfs filled to its last 8 kB, or (not root, or RHF_TEST_NO_TMPFS)
    a plain folder whose PNG writes fail with ENOSPC."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = not os.environ.get("RHF_TEST_NO_TMPFS") and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
        capture_output=True).returncode == 0
    if mounted:
        free = shutil.disk_usage(folder).free
        (folder / "filler").write_bytes(b"\0" * (free - 2 * 4096))
    else:
        _png_writes_fail(monkeypatch)
    yield folder
    if mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_plot_on_a_full_disk_is_one_disk_full_line(full_disk):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from eval.plots import _save

    fig = plt.figure(figsize=(4, 4))
    fig.figimage(np.random.default_rng(0).random((300, 300)))  # a PNG of over 100 kB
    before = sorted(p.name for p in full_disk.iterdir())
    with pytest.raises(DiskFull) as err:
        _save(fig, full_disk / "accuracy.png")
    plt.close(fig)
    assert re.fullmatch(
        rf"disk full in {re.escape(str(full_disk))}: needs about [\d.]+ (kB|bytes) \([\d.]+ "
        rf"(bytes|kB|MB|GB|TB) free\); {re.escape(str(full_disk / 'accuracy.png'))} was left "
        r"as it was", str(err.value))
    # no half-written PNG, no temporary file
    assert sorted(p.name for p in full_disk.iterdir()) == before


def test_eval_with_a_full_disk_at_its_plots_is_one_line_and_keeps_the_predictions(
        monkeypatch, tmp_path, real_data):
    out = tmp_path / "eval"
    failed = _png_writes_fail(monkeypatch)
    result = runner.invoke(app, ["eval", "--model", "models/tiny-base", "--base-model",
                                 "models/tiny-base", "--methods", "cot", "--tasks",
                                 "sports_understanding", "--limit", "4", "--max-new-tokens",
                                 "4", "--no-calibration", "--bootstrap", "10", "--out",
                                 str(out)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and failed
    png = out / "accuracy.png"
    assert re.search(rf"^error: disk full in {re.escape(str(out))}: needs about [\d.]+ "
                     rf"(kB|bytes) \([\d.]+ (bytes|kB|MB|GB|TB) free\); {re.escape(str(png))} "
                     r"was left as it was; the files written before it are kept: rerun rhf "
                     r"eval to finish$", result.output, re.MULTILINE), result.output
    pred = out / "predictions" / "cot_sports_understanding_seed0.jsonl"
    assert len(pred.read_text().splitlines()) == 4  # written before the plots, kept
    assert not png.exists() and not [p for p in out.rglob("*.tmp")]


def test_a_model_card_on_a_full_disk_is_one_disk_full_line_and_kept(tmp_path, monkeypatch):
    """`rhf eval --update-card` appends to the card through the same writer: a full disk is
    one DiskFull line and the card stays as it was. (Cards were already written this way at
    d9a135d: a guard against regressions, not one of the issue's failures.)"""
    from training.recipe.model_card import Result, append_results

    folder = tmp_path / "final"
    folder.mkdir()
    card = "---\nlicense: apache-2.0\n---\n\n# tiny\n"
    (folder / "README.md").write_text(card)
    real = os.fsync

    def fsync(fd):
        if ".README.md." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(jsonl.os, "fsync", fsync)
    with pytest.raises(DiskFull) as err:
        append_results(folder, [Result("strategyqa", "StrategyQA dev", "accuracy", 0.5, "cot")],
                       "| a | b |")
    assert re.fullmatch(rf"disk full in {re.escape(str(folder))}: needs about [\d.]+ "
                        rf"(kB|bytes) \([\d.]+ (bytes|kB|MB|GB|TB) free\); "
                        rf"{re.escape(str(folder / 'README.md'))} was left as it was",
                        str(err.value))
    assert (folder / "README.md").read_text() == card
    assert sorted(p.name for p in folder.iterdir()) == ["README.md"]
