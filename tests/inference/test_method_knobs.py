"""Each method knob is declared once, on MethodParams: `rhf infer` and `rhf eval` options,
EvalConfig and the service's request fields all come from that field and its help."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from eval.config import EvalConfig
from inference import api, method_options
from inference.dispatch import (
    KNOBS,
    METHOD_REGISTRY,
    Method,
    MethodParams,
    knob,
    knob_help,
    method_params_from,
)
from inference.infer import InferFailed, InferModels, infer
from rhf_cli import app

FIELDS = {f.name: f for f in fields(MethodParams)}


def _options(group: str) -> dict[str, Any]:
    command = typer.main.get_command(app).commands[group]
    return {p.name: p for p in command.params}


@pytest.mark.parametrize("group, skipped", [("infer", set()), ("eval", {"seed"})])
def test_every_knob_is_an_option_with_the_dataclass_help(group: str, skipped: set) -> None:
    options = _options(group)
    for name in set(KNOBS) - skipped:
        assert options[name].help == knob_help(name), name
        assert options[name].opts == [f"--{name.replace('_', '-')}"]
        assert options[name].default == FIELDS[name].default, name
    assert skipped.isdisjoint(options)  # rhf eval runs every one of --seeds
    text = CliRunner().invoke(app, [group, "--help"], terminal_width=200).output
    assert "--wsc-batch-rows" in text and "--refine-rule" in text


def test_every_request_knob_is_a_field_of_the_method_request_with_its_help() -> None:
    schema = api.MethodRequest.model_json_schema()["properties"]
    server_side = {n for n, f in FIELDS.items() if not f.metadata["request"]}
    assert server_side == {"batch_size", "wsc_batch_rows"}
    for name in set(KNOBS) - server_side:
        assert schema[name]["description"] == knob_help(name), name
    assert server_side.isdisjoint(schema)
    assert schema["k"]["default"] == 0 and schema["n"]["maximum"] == api.MAX_N
    vote = api.VoteRequest.model_json_schema()["properties"]
    assert vote["temperature"]["description"] == knob_help("temperature")


def test_a_new_knob_is_one_field(monkeypatch) -> None:
    """A field added to MethodParams becomes an option, with its help, and reaches the
    command as a knob; nothing else is edited."""

    @dataclass(frozen=True)
    class Widened(MethodParams):
        toy_knob: int = knob(3, "toy: a knob added in one place.")

    monkeypatch.setattr(method_options, "MethodParams", Widened)
    seen: dict[str, Any] = {}
    toy_app = typer.Typer()

    @toy_app.command()
    @method_options.with_method_options(exclude=("seed",))
    def run(name: str = "x", knobs: dict[str, Any] | None = None) -> None:
        seen.update(knobs or {}, name=name)

    [command] = [typer.main.get_command(toy_app)]
    params = {p.name: p for p in command.params}
    assert params["toy_knob"].help == "toy: a knob added in one place."
    assert "seed" not in params
    result = CliRunner().invoke(toy_app, ["--toy-knob", "5", "--n", "2", "--name", "y"])
    assert result.exit_code == 0, result.output
    assert (seen["toy_knob"], seen["n"], seen["k"], seen["name"]) == (5, 2, 4, "y")


def test_method_params_from_keeps_the_knobs_and_checks_them() -> None:
    params = method_params_from({"k": 2, "question": "not a knob", "tau": 0.25},
                                batch_size=None)
    assert (params.k, params.tau, params.batch_size) == (2, 0.25, None)
    assert MethodParams().threshold == 0.5 and params.threshold == 0.25
    with pytest.raises(ValueError, match=r"--tau must be in \[0, 1\], got 2"):
        method_params_from({"tau": 2.0})


def test_a_method_names_only_knobs_that_exist() -> None:
    assert METHOD_REGISTRY.get("wsc").params == ("n", "w", "temperature", "wsc_batch_rows")
    assert "k" in METHOD_REGISTRY.get("refine").params
    with pytest.raises(ValueError, match="'beam' is no MethodParams field"):
        Method("beamy", lambda *a, **k: [], params=("beam",))


def test_eval_config_embeds_the_knobs_and_reports_them_flat(tmp_path: Path) -> None:
    config = EvalConfig.of(model="m", out=tmp_path, k=2, n=3, refine_rule="threshold",
                           seeds=(0, 1))
    assert config.params == MethodParams(k=2, n=3, refine_rule="threshold")
    record = config.record()
    assert (record["k"], record["n"], record["tau"], record["seeds"]) == (2, 3, None, (0, 1))
    assert "params" not in record and "seed" not in record and record["out"] == str(tmp_path)
    with pytest.raises(ValueError, match="unknown eval setting 'beam': known settings are "):
        EvalConfig.of(model="m", out=tmp_path, beam=4)
    with pytest.raises(ValueError, match="unknown eval setting 'seed'"):
        EvalConfig.of(model="m", out=tmp_path, seed=1)
    with pytest.raises(ValueError, match="--temperature must be > 0, got 0"):
        EvalConfig.of(model="m", out=tmp_path, methods=("multitask",), calibration=False,
                      temperature=0.0).check()


def test_infer_refuses_before_any_model_loads() -> None:
    with pytest.raises(InferFailed, match="^--model is required$"):
        infer("multitask", InferModels(None), MethodParams())
    with pytest.raises(InferFailed, match="--base-model is required for refine"):
        infer("refine", InferModels("/no/such/model"), MethodParams())
    with pytest.raises(InferFailed, match="unknown method 'vote'"):
        infer("vote", InferModels("/no/such/model"), MethodParams())
