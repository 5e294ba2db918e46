"""docs/tasks.md's ten-minute guide runs as written: its spec, its questions file and every
`rhf` command of its shell block, in order, on the real BIG-bench navigate task (the shared
copy in BIG-bench's layout) and the shipped tiny base. A command or flag that changes, or a
step that stops working, fails here."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from rhf_cli import app

ROOT = Path(__file__).resolve().parents[1]
GUIDE = "## Ten minutes: a BIG-bench task from its file"


def guide_section() -> str:
    text = (ROOT / "docs" / "tasks.md").read_text(encoding="utf-8")
    start = text.index(GUIDE)
    end = text.index("\n## ", start + len(GUIDE))
    return text[start:end]


def blocks(section: str) -> dict[str, list[str]]:
    """The fenced blocks of the section by language, each as its text."""
    found: dict[str, list[str]] = {}
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S):
        found.setdefault(lang, []).append(body)
    return found


def commands(bash: str) -> list[list[str]]:
    """Each `rhf ...` line (joined over trailing backslashes), comments dropped, as argv."""
    out, pending = [], ""
    for line in bash.splitlines():
        pending += line.rstrip()[:-1] + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            if pending.strip():
                out.append(shlex.split(pending, comments=True))
            pending = ""
    return out


def test_the_guide_runs_as_written(tmp_path, monkeypatch, bigbench_tasks):
    section = guide_section()
    found = blocks(section)
    (spec_text,), (questions,), (bash,) = found["yaml"], found["jsonl"], found["bash"]
    task_var = re.search(r"`T=([^`]+)`", section).group(1)
    assert task_var == "mytask/navigate.yaml"
    mytask = tmp_path / "mytask"
    mytask.mkdir()
    (mytask / "navigate.yaml").write_text(spec_text, encoding="utf-8")
    (mytask / "new.jsonl").write_text(questions, encoding="utf-8")
    (mytask / "bigbench-tasks").symlink_to(bigbench_tasks)
    (mytask / "navigate_cot.txt").write_text(
        (ROOT / "tests" / "assets" / "bbh" / "navigate_cot.txt").read_text())
    (tmp_path / "models").symlink_to(ROOT / "models")
    monkeypatch.chdir(tmp_path)
    shown = commands(bash)
    assert [c[:2] for c in shown] == [
        ["rhf", "data"], ["rhf", "data"], ["rhf", "infer"], ["rhf", "infer"], ["rhf", "eval"],
        ["rhf", "chains"], ["rhf", "annotate"], ["rhf", "annotate"]]
    runner = CliRunner()
    for argv in shown:
        args = [task_var if a == "$T" else a for a in argv[1:]]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, f"{' '.join(argv)}: {result.output}"

    prefix = "If you follow these instructions, do you return to the starting point? "
    new = [json.loads(line) for line in (tmp_path / "runs/nav/new.jsonl").read_text()
           .splitlines()]
    assert [r["question"] for r in new] == [
        prefix + "Take 3 steps. Turn around. Take 3 steps.",
        prefix + "Take 2 steps. Turn left. Take 2 steps."]
    assert all(r["gold"] is None for r in new)
    report = json.loads((tmp_path / "runs/nav/eval/report.json").read_text())
    assert [(r["task"], r["method"], r["n_examples"]) for r in report["runs"]] == [
        ("navigate", "cot", 2)]
    tasks = json.loads((tmp_path / "runs/nav/tasks.json").read_text())
    assert len(tasks) == 2 and all(t["data"]["question"].startswith(prefix) for t in tasks)
    assert (tmp_path / "runs/nav/config.xml").read_text().startswith("<View>")
