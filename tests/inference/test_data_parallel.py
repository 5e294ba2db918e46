"""Data-parallel generation and evaluation under ``accelerate launch``: two CPU processes
(gloo) give exactly the files one process gives (cot, wsc, refine and calibration through
`rhf eval`; sampled chains through `rhf chains generate`), and a launch whose process is
killed fails with one error line and writes nothing.

Each launch costs two interpreter start-ups (10-20 s on two shared cores), so there are two;
the batch plan and the gather are tested without processes in test_sharding.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
from typer.testing import CliRunner

from rhf_cli import app

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "models" / "tiny-base"
runner = CliRunner()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(args: list[str]) -> subprocess.Popen:
    """`accelerate launch --num_processes 2 ARGS` on CPU (gloo), one thread per process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
         "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
         "--main_process_port", str(_port()), *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)


def _finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-3000:]
    return out


def _one_process(args: list[str]) -> None:
    """The same command in this process, on one thread like each launched process."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = runner.invoke(app, args)
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output


def _read_until(proc: subprocess.Popen, marker: str, timeout: float = 180) -> str:
    """What the launch printed up to ``marker`` (a progress bar has no newline to wait for)."""
    seen, deadline = "", time.time() + timeout
    while marker not in seen:
        char = proc.stdout.read(1)
        assert char and time.time() < deadline, seen[-3000:]
        seen += char
    return seen


def _report(folder: Path) -> dict:
    report = json.loads((folder / "report.json").read_text())
    for volatile in ("created", "timings_s"):
        report.pop(volatile)
    report["config"].pop("out")
    return report


def test_eval_and_chains_on_two_processes_equal_one(tmp_path: Path) -> None:
    """`rhf eval` with cot, wsc (sampled: seeded per question) and refine, calibration and the
    step critic (5 questions in batches of 2: 3 batches for 2 processes; 1 calibration record:
    more processes than prompts), and `rhf chains generate` with sampling, both run in one
    launch (one start-up) and again in this process."""
    evaluate = ["eval", "--model", str(BASE), "--base-model", str(BASE), "--refine-model",
                str(BASE), "--methods", "cot,wsc,refine", "--tasks", "strategyqa", "--limit",
                "5", "--k", "1", "--n", "2", "--rounds", "2", "--max-new-tokens", "16",
                "--batch-size", "2", "--calibration-limit", "1", "--bootstrap", "20",
                "--threads", "1", "--no-plots"]
    chains = ["chains", "generate", "--model", str(BASE), "--task", "sports_understanding",
              "--limit", "5", "--k", "1", "--sample", "--samples", "2", "--batch-size", "2",
              "--max-new-tokens", "12"]
    two = _launch([str(ROOT / "tests" / "inference" / "launch_driver.py"), json.dumps([
        [*evaluate, "--out", str(tmp_path / "two")],
        [*chains, "--out", str(tmp_path / "two.jsonl")]])])
    _one_process([*evaluate, "--out", str(tmp_path / "one")])
    _one_process([*chains, "--out", str(tmp_path / "one.jsonl")])
    log = _finish(two)
    assert log.count("[eval] wrote") == 1  # one writer, one voice
    assert "10 chains for 5 questions" in log and "2 processes" in log

    one, two_dir = tmp_path / "one", tmp_path / "two"
    files = sorted(p.name for p in (one / "predictions").iterdir())
    assert files == sorted(p.name for p in (two_dir / "predictions").iterdir())
    assert {"cot_strategyqa_seed0.jsonl", "wsc_strategyqa_seed0.jsonl",
            "refine_strategyqa_seed0.jsonl", "calibration_icl.jsonl"} <= set(files)
    for name in files:
        assert (one / "predictions" / name).read_bytes() == (
            two_dir / "predictions" / name).read_bytes(), name
    wsc = [json.loads(x) for x in (one / "predictions" / "wsc_strategyqa_seed0.jsonl")
           .read_text().splitlines()]
    assert all(len(set(r["meta"]["texts"])) == 2 for r in wsc)  # really sampled, 2 apiece
    a, b = _report(one), _report(two_dir)
    assert (a["environment"].pop("num_processes"), b["environment"].pop("num_processes")) == (
        1, 2)
    assert a["environment"]["dtype"] == b["environment"]["dtype"] == "float32"
    assert a == b

    lines = (tmp_path / "one.jsonl").read_text().splitlines()
    assert len(lines) == 10 and (tmp_path / "two.jsonl").read_text().splitlines() == lines
    runs = [json.loads((tmp_path / f"{n}.run.json").read_text())["runs"] for n in ("one", "two")]
    assert [r[0]["num_processes"] for r in runs] == [1, 2]
    assert {r[0]["models"]["model"]["dtype"] for r in runs} == {"float32"}


def test_a_killed_process_fails_the_launch_with_one_line_and_no_output(tmp_path: Path,
                                                                       tiny_t5: Path) -> None:
    out = tmp_path / "eval"
    proc = _launch(["-m", "rhf_cli", "eval", "--model", str(tiny_t5), "--base-model", str(tiny_t5),
                    "--methods", "cot", "--tasks", "strategyqa", "--limit", "200", "--k", "0",
                    "--batch-size", "1", "--max-new-tokens", "64", "--no-calibration",
                    "--out", str(out)])
    seen = _read_until(proc, "cot strategyqa:")  # the main process's bar: generating
    workers = psutil.Process(proc.pid).children(recursive=True)
    rank1 = [w for w in workers if w.environ().get("RANK") == "1"]
    assert len(rank1) == 1, [w.environ().get("RANK") for w in workers]
    os.kill(rank1[0].pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    errors = [x for x in (seen + rest).replace("\r", "\n").splitlines()
              if x.startswith("error:")]
    assert len(errors) == 1, rest[-3000:]
    assert errors[0].startswith("error: process 0 of 2: ")
    assert errors[0].endswith("; no report was written")
    assert not (out / "report.json").exists() and not (out / "predictions").exists()
    # only rhf's own mark and lock of the folder (feedback_data.files.run_mark, write_lock)
    left = [p.name for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert set(left) <= {".rhf-run", ".lock"}, left
