"""One registry per kind of piece: docs/extending.md's table is what the registries hold, and
a toy method, a toy export format and a toy task added from test code reach the command
line's choices, `rhf eval` and (the method) the service. Unknown names are one clear error."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedback_data.records.jsonl import write_records
from feedback_data.registry import Registry, UnknownName
from rhf_cli import app

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "models" / "tiny-base"
runner = CliRunner()
pytestmark = pytest.mark.usefixtures("real_data")


def extending_table() -> list[dict[str, str]]:
    text = (ROOT / "docs" / "extending.md").read_text()
    section = text.split("## Where a new piece goes", 1)[1].split("\n###", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    return [{"kind": c[0], "registry": c[1].strip("`"), "module": c[2].strip("`"),
             "built_in": c[3]} for c in cells]


def test_the_docs_table_is_what_the_registries_hold():
    table = extending_table()
    assert [row["kind"] for row in table] == ["task", "method", "objective", "export format"]
    for row in table:
        assert (ROOT / row["module"]).is_file(), row
        module = importlib.import_module(row["module"].removesuffix(".py").replace("/", "."))
        registry = getattr(module, row["registry"])
        assert isinstance(registry, Registry) and registry.kind == row["kind"]
        assert registry.names() == tuple(n.strip() for n in row["built_in"].split(",")), row


def test_every_file_the_docs_send_a_change_to_exists():
    text = (ROOT / "docs" / "extending.md").read_text()
    section = text.split("### Everything else: the one file to open", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    named = [path for row in rows for path in re.findall(r"`([\w/]+\.py)`", row)]
    assert len(rows) >= 9 and len(named) >= len(rows)
    assert [p for p in named if not (ROOT / p).is_file()] == []


def _toy_method(model, examples, params, **_inputs):
    from inference.methods import Prediction

    return [Prediction(ex.id, "yes", "The answer is yes because toys say so.", {"toy": True})
            for ex in examples]


def _toy_rows(items):
    from feedback_data.exports.trl import ExportReport

    report = ExportReport("toy", records=len(items), rows=len(items))
    return [{"question": i.example.question, "toy": True} for i in items], report


@pytest.fixture()
def toys(tmp_path):
    """A toy method, export format and task, registered here and taken out afterwards."""
    from feedback_data.exports.formats import EXPORT_FORMATS, ExportFormat
    from feedback_data.tasks.registry import TASKS, register_spec
    from feedback_data.tasks.spec import parse_spec
    from inference.dispatch import METHOD_REGISTRY, Method

    rows = [{"id": f"q{i}", "question": f"Is {i} a toy number?", "answer": "yes"}
            for i in range(6)]
    write_records(tmp_path / "toy.jsonl", rows)
    spec = parse_spec({"name": "toy-task", "loader": {"jsonl": str(tmp_path / "toy.jsonl")},
                       "dev_fraction": 1.0, "shots": {"from": "none"},
                       "display_name": "Toy task"})
    METHOD_REGISTRY.register("toy", Method("toy", _toy_method, title="Toy method",
                                           seed_dependent=lambda _p: False))
    EXPORT_FORMATS.register("toy", ExportFormat("toy", "rows", build=_toy_rows))
    register_spec(spec)
    yield spec
    METHOD_REGISTRY.unregister("toy")
    EXPORT_FORMATS.unregister("toy")
    TASKS.unregister("toy-task")


def test_toys_reach_the_cli_eval_and_the_service(toys, tmp_path):
    # the command line's choices: an unknown name lists the registered ones, toys included
    bad = runner.invoke(app, ["infer", "--method", "nope", "--model", str(BASE)])
    assert bad.exit_code == 1 and "known methods are cot, multitask, wsc, wsc_soft, refine, " \
                                  "toy" in bad.output
    bad = runner.invoke(app, ["chains", "generate", "--model", str(BASE), "--task", "nope",
                              "--out", str(tmp_path / "c.jsonl")])
    assert bad.exit_code == 1 and "sports_understanding, toy-task" in bad.output
    bad = runner.invoke(app, ["data", "export", str(tmp_path / "x.jsonl"), "--format", "no"])
    assert bad.exit_code == 1 and "processbench, toy" in bad.output

    out = tmp_path / "toy.jsonl"
    ok = runner.invoke(app, ["infer", "--method", "toy", "--model", str(BASE), "--task",
                             "toy-task", "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    summary = json.loads(ok.output[ok.output.rindex('{"method"'):].splitlines()[0])
    assert (summary["method"], summary["task"], summary["accuracy"]) == ("toy", "toy-task", 1.0)

    report_dir = tmp_path / "eval"
    ok = runner.invoke(app, ["eval", "--model", str(BASE), "--methods", "toy,multitask",
                             "--tasks", "toy-task,strategyqa", "--limit", "2",
                             "--max-new-tokens", "8", "--no-calibration", "--no-plots",
                             "--seeds", "0,1", "--out", str(report_dir)])
    assert ok.exit_code == 0, ok.output
    report = json.loads((report_dir / "report.json").read_text())
    assert report["accuracy"]["toy"]["toy-task"]["mean"] == 1.0
    toy_runs = [r for r in report["runs"] if r["method"] == "toy"]
    assert [r["reused_earlier_seed"] for r in toy_runs] == [False, True, False, True]
    markdown = (report_dir / "report.md").read_text()
    assert "| Toy method |" in markdown and "Toy task" in markdown

    feedback = tmp_path / "feedback.jsonl"
    from feedback_data.sources.paper_import import load_paper_feedback

    write_records(feedback, load_paper_feedback("strategyqa", "train")[:3])
    ok = runner.invoke(app, ["data", "export", str(tmp_path / "rows.jsonl"), "--format",
                             "toy", "--feedback", str(feedback)])
    assert ok.exit_code == 0, ok.output
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == 3

    from fastapi.testclient import TestClient

    from pipeline.serve import create_app

    client = TestClient(create_app(model=str(BASE)))
    paths = client.get("/openapi.json").json()["paths"]
    assert {f"/v1/methods/{m}" for m in ("cot", "multitask", "wsc", "wsc_soft", "refine",
                                         "toy")} <= set(paths)
    r = client.post("/v1/methods/toy", json={"question": "Is 1 a toy number?",
                                             "task": "toy-task"})
    assert r.status_code == 200 and r.json()["answer"] == "yes" and r.json()["meta"]["toy"]
    r = client.post("/v1/methods/multitask", json={"question": "Q?", "task": "nope"})
    assert r.status_code == 422 and "unknown task 'nope'" in str(r.json()["detail"])


def test_unknown_names_are_one_clear_error_never_a_key_error(tmp_path):
    from eval.config import EvalConfig
    from feedback_data.exports.formats import build
    from inference.dispatch import MethodParams, run_method
    from training.run.config import ConfigError
    from training.run.config_load import load_config

    cfg = EvalConfig(model="m", out=tmp_path, methods=("cot", "vote"), calibration=False)
    with pytest.raises(UnknownName, match="unknown method 'vote': known methods are cot, "):
        cfg.check()
    with pytest.raises(UnknownName, match="unknown task 'nope'"):
        EvalConfig(model="m", out=tmp_path, tasks=("nope",), methods=("multitask",),
                   calibration=False).check()
    with pytest.raises(UnknownName, match="unknown method 'vote'"):
        run_method("vote", None, [], MethodParams())
    with pytest.raises(UnknownName, match=re.escape("known export formats are jsonl, hf, sft")):
        build("nope", [])
    with pytest.raises(ConfigError, match=re.escape(
            "objective: 'pretrain' is not one of ['multitask', 'refine', 'critic'] (the "
            "objective registry)")):
        load_config(None, {"model.name_or_path": "m"}, objective="pretrain")
    result = runner.invoke(app, ["train", "--objective", "pretrain", "--model", "m", "--out",
                                 str(tmp_path / "x")])
    assert result.exit_code == 1 and "--objective must be multitask or refine" in result.output
