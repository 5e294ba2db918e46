"""Chain generation: parsed answers, unparseable chains kept, resumable file, CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedback_data.records.jsonl import read_records
from feedback_data.records.schema import Chain
from feedback_data.sources.splits import dev_examples
from inference.chains import generate_chains
from inference.toy_models import ScriptedGenerator


@pytest.mark.usefixtures("real_data")
def test_generate_chains_parses_keeps_unparsed_and_resumes(tmp_path: Path) -> None:
    examples = dev_examples("sports_understanding")[:5]

    def respond(prompt: str, _j: int) -> str:
        q = prompt.rsplit("Q: ", 1)[1]
        return "no idea" if q.startswith(examples[1].question) else (
            "The answer is implausible because A is a hockey player. B is soccer.")

    gen = ScriptedGenerator(respond)
    out = tmp_path / "chains.jsonl"
    first = generate_chains(gen, examples[:3], "sports_understanding", k=2, out=out)
    assert [c.parsed for c in first] == [True, False, True]
    assert first[0].answer == "no" and first[0].steps == ["A is a hockey player.", "B is soccer."]
    assert first[1].answer is None and first[1].steps == ["no idea"]
    # Rerun over all five: only the two new examples are generated.
    again = generate_chains(gen, examples, "sports_understanding", k=2, out=out)
    assert [len(c["prompts"]) for c in gen.calls] == [3, 2]
    assert [c.id for c in again[:3]] == [c.id for c in first]
    stored = read_records(out, Chain)
    assert len(stored) == 5 and len({c.id for c in stored}) == 5


def test_chains_generate_cli(tiny_t5: Path, tmp_path: Path) -> None:
    from rhf_cli import app

    out = tmp_path / "c.jsonl"
    args = ["chains", "generate", "--model", str(tiny_t5), "--task", "strategyqa", "--k", "2",
            "--limit", "3", "--max-new-tokens", "6", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 chains for 3 questions" in result.output
    result = CliRunner().invoke(app, args)
    assert "3 examples already done, 0 to generate" in result.output
    assert len(read_records(out, Chain)) == 3
    bad = CliRunner().invoke(app, [*args[:6], "--task", "chess", "--out", str(out)])
    assert bad.exit_code == 1 and "unknown task 'chess'" in bad.output
