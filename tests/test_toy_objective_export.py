"""A toy objective and a toy export format, each defined in one place (one register call
here, taken out afterwards), reach everything that should know them: the config's
`objective` key and `rhf train`, the pairs and the validator the training loop is handed,
the validation it runs; `rhf data export --help`, an export's rows, and the
contradicting-corrections policy by the entry's own flag. No model is trained."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from feedback_data.records.jsonl import write_records
from rhf_cli import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("real_data")


def _toy_pairs(cfg, items, counts: dict[str, Any]):
    from training.data.examples import Pair

    counts["toy"] = len(items)
    return [Pair(f"toy? {i.example.question}", "toy!", "toy", i.feedback.id) for i in items]


def _toy_validate(validator, model) -> dict[str, float]:
    return {"val/toy": float(len(validator.items))}


@pytest.fixture()
def toy_objective():
    from training.recipe.objectives import OBJECTIVE_REGISTRY, Objective

    OBJECTIVE_REGISTRY.register("toy", Objective("toy", _toy_pairs, terms=("toy",),
                                                 validate=_toy_validate, help="toys",
                                                 validates_answers=False, reads_critic=False))
    try:
        yield OBJECTIVE_REGISTRY.get("toy")
    finally:
        OBJECTIVE_REGISTRY.unregister("toy")


def test_the_toy_objective_is_a_config_objective_and_a_train_choice(toy_objective, monkeypatch,
                                                                    tmp_path):
    import training.recipe.objectives
    from training.run.config import ConfigError
    from training.run.config_load import load_config

    cfg = load_config(None, {"model.name_or_path": "m"}, objective="toy")
    assert cfg.objective == "toy"
    with pytest.raises(ConfigError, match=r"'toy2' is not one of \[.*'critic', 'toy'\]"):
        load_config(None, {"model.name_or_path": "m"}, objective="toy2")

    seen = []
    monkeypatch.setattr(training.recipe.objectives, "train",
                        lambda cfg: seen.append(cfg) or tmp_path / "final")
    ok = runner.invoke(app, ["train", "--objective", "toy", "--model", "m", "--out",
                             str(tmp_path / "run")])
    assert ok.exit_code == 0, ok.output
    assert [c.objective for c in seen] == ["toy"]
    bad = runner.invoke(app, ["train", "--objective", "toy2", "--model", "m", "--out",
                              str(tmp_path / "run")])
    assert bad.exit_code == 1 and "refine or critic or toy" in bad.output
    shown = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "400"})
    listed = " ".join(shown.output.replace("│", " ").split())  # the help box's lines joined
    assert shown.exit_code == 0 and "; toy (toys)." in listed


def test_the_loop_gets_the_toy_pairs_terms_and_validator(toy_objective, monkeypatch):
    """objectives.train(cfg) with objective toy hands the loop the toy's pieces, bound to the
    config; the validator built from them runs the toy's validation, not multitask's."""
    import torch

    from feedback_data.sources.paper_import import load_paper_feedback
    from training.recipe import loop, validation
    from training.recipe.objectives import train
    from training.run.config_load import load_config

    handed = []
    monkeypatch.setattr(loop, "train", lambda cfg, objective: handed.append(objective)
                        or Path("final"))
    cfg = load_config(None, {"model.name_or_path": "m"}, objective="toy")
    assert train(cfg) == Path("final")
    (objective,) = handed
    items = load_paper_feedback("strategyqa", "train")[:4]
    pairs = objective.train_pairs(items)
    assert [(p.target, p.term) for p in pairs] == [("toy!", "toy")] * 4
    assert objective.counts == {"toy": 4}
    assert objective.eval_pairs(items[:2]) == pairs[:2]  # no eval_pairs: the same builder
    assert (objective.name, objective.terms, objective.validate) == ("toy", ("toy",),
                                                                    _toy_validate)
    # What the loop decides by the entry's flags, never by the objective's name: no new
    # vocab.json statements held out for a validation that answers nothing, no critic reading.
    assert (objective.validates_answers, objective.reads_critic) == (False, False)
    from training.recipe.objectives import OBJECTIVE_REGISTRY

    assert {e.name: (e.validates_answers, e.reads_critic) for e in OBJECTIVE_REGISTRY} == {
        "multitask": (True, True), "refine": (True, False), "critic": (False, True),
        "toy": (False, False)}

    def no_generation(*_args, **_kwargs):
        raise AssertionError("the toy objective's validation generated answers")

    monkeypatch.setattr(validation, "generate", no_generation)
    monkeypatch.setattr(validation, "label_token_logps", no_generation)

    class Model(torch.nn.Module):
        config = type("Config", (), {"is_encoder_decoder": True})()

    class OneProcess:
        process_index, num_processes, device = 0, 1, torch.device("cpu")

        def unwrap_model(self, model):
            return model

    validator = validation.Validator("toy", [i.example for i in items], items, 64, 8,
                                     "answer_first", run=objective.validate)
    assert validator(Model(), None, OneProcess()) == {"val/toy": 4.0}


def _toy_rows(items, **policy):
    from feedback_data.exports.trl import ExportReport

    rows = [{"question": i.example.question, "policy": policy.get("contradicting")}
            for i in items]
    return rows, ExportReport("toy", records=len(items), rows=len(rows))


@pytest.fixture(params=[True, False], ids=["uses-correction", "no-correction"])
def toy_format(request):
    from feedback_data.exports.formats import EXPORT_FORMATS, ExportFormat

    EXPORT_FORMATS.register("toy", ExportFormat("toy", "rows", build=_toy_rows,
                                                uses_correction=request.param,
                                                help="a toy row per record"))
    try:
        yield EXPORT_FORMATS.get("toy")
    finally:
        EXPORT_FORMATS.unregister("toy")


def test_the_toy_format_is_listed_and_exported_by_its_own_policy_flag(toy_format, tmp_path):
    from feedback_data.sources.paper_import import load_paper_feedback

    shown = runner.invoke(app, ["data", "export", "--help"], env={"COLUMNS": "400"})
    assert shown.exit_code == 0
    listed = " ".join(shown.output.replace("│", " ").split())  # the help box's lines joined
    assert "processbench (ProcessBench's" in listed
    takes = ", takes --contradicting-corrections" if toy_format.uses_correction else ""
    assert f"toy (a toy row per record{takes})" in listed

    feedback = tmp_path / "feedback.jsonl"
    write_records(feedback, load_paper_feedback("strategyqa", "train")[:3])
    out = tmp_path / "toy.jsonl"
    ok = runner.invoke(app, ["data", "export", str(out), "--format", "toy", "--feedback",
                             str(feedback), "--contradicting-corrections", "keep"])
    assert ok.exit_code == 0, ok.output
    assert f"wrote 3 rows to {out}" in ok.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    policy = "keep" if toy_format.uses_correction else None  # the flag decides, not the name
    assert [r["policy"] for r in rows] == [policy] * 3
