"""Checks before any model loads (issue 31): too few shots names the task YAML and the --k
that works; a prompt that cannot hold even one shot is refused with only the tokenizer
read. Backend.load is replaced by a function that fails the test if it is ever called."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rhf_cli import app

ROOT = Path(__file__).resolve().parents[2]
TINY_BASE = str(ROOT / "models" / "tiny-base")
runner = CliRunner()


@pytest.fixture()
def no_model_loads(monkeypatch):
    from inference.backends import Backend

    def refuse(*_a, **_kw):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(Backend, "load", staticmethod(refuse))


def task_with_shot(folder: Path, explanation: str, name: str) -> Path:
    rows = [{"id": str(i), "question": f"Is {i} even?", "answer": "no" if i % 2 else "yes"}
            for i in range(6)]
    (folder / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "s.jsonl").write_text(json.dumps({"question": "Is 10 even?", "answer": "yes",
                                                "explanation": explanation}) + "\n")
    spec = folder / "evens.yaml"
    spec.write_text(f"name: {name}\nloader: {{jsonl: q.jsonl}}\nshots: {{file: s.jsonl}}\n")
    return spec


def test_too_few_shots_is_refused_before_any_model_loads(tmp_path, no_model_loads):
    spec = task_with_shot(tmp_path, "10 = 2 * 5.", "evens31")
    want = (f"{spec}: only 1 shots available for evens31, asked for 3 (give --k 1, or more "
            "shots")
    result = runner.invoke(app, ["infer", "--method", "cot", "--model", TINY_BASE, "--task",
                                 str(spec), "--k", "3", "--out", str(tmp_path / "p.jsonl")])
    assert result.exit_code == 1 and want in result.output
    result = runner.invoke(app, ["eval", "--methods", "cot", "--model", TINY_BASE,
                                 "--base-model", TINY_BASE, "--tasks", str(spec), "--k", "3",
                                 "--no-calibration", "--out", str(tmp_path / "ev")])
    assert result.exit_code == 1 and want in result.output
    assert not (tmp_path / "p.jsonl").exists()
    assert not (tmp_path / "ev" / "report.json").exists()


def test_one_shot_too_long_is_refused_before_the_model_loads(tmp_path, no_model_loads):
    spec = task_with_shot(tmp_path, "Ten is even. " * 400, "long31")  # far beyond 512 tokens
    for command in (["infer", "--method", "cot", "--model", TINY_BASE, "--task", str(spec),
                     "--k", "1", "--limit", "1", "--out", str(tmp_path / "p.jsonl")],
                    ["chains", "generate", "--model", TINY_BASE, "--task", str(spec),
                     "--k", "1", "--limit", "1", "--out", str(tmp_path / "c.jsonl")]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, result.output
        assert f"{spec}: question 1 of long31: even one shot does not fit the model's " \
               "source budget (" in result.output
        assert "the budget is 512); give --k 0" in result.output
    assert not (tmp_path / "p.jsonl").exists() and not (tmp_path / "c.jsonl").exists()
