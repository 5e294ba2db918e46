"""A method registered in one place reaches every surface: `rhf infer --help`, `rhf eval
--help` and its config check, the service's routes and the model cards."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient

from eval import publish
from eval.config import EvalConfig
from inference.dispatch import METHOD_REGISTRY, Method, MethodParams
from inference.methods import Prediction
from inference.toy_models import ScriptedGenerator
from pipeline.serve import create_app
from rhf_cli import app

TITLE = "Toy echo method"


def _echo(model, examples, params: MethodParams, **_) -> list[Prediction]:
    return [Prediction(ex.id, "yes", f"The answer is yes because toy n={params.n}.")
            for ex in examples]


@pytest.fixture()
def toy():
    """The one registration; taken out again so other tests see the built-in methods."""
    METHOD_REGISTRY.register("toy_echo", Method(
        "toy_echo", _echo, title=TITLE, help="answers yes", params=("n",)))
    yield METHOD_REGISTRY.get("toy_echo")
    METHOD_REGISTRY.unregister("toy_echo")


def _option_help(group: str, option: str) -> str:
    command = typer.main.get_command(app).commands[group]
    return next(p.help for p in command.params if p.name == option)


def test_the_cli_help_names_it(toy) -> None:
    for group, option in (("infer", "method"), ("eval", "methods")):
        text = _option_help(group, option)
        assert f"toy_echo ({TITLE}; knobs n)" in text, text
        assert "refine (Iterative refinement" in text
    assert "toy_echo" not in _option_help("infer", "k")


def test_the_cli_help_forgets_it_once_unregistered() -> None:
    assert "toy_echo" not in _option_help("infer", "method")


def test_eval_config_accepts_it_and_runs_it_on_model(toy, tmp_path: Path) -> None:
    config = EvalConfig(model="mt", out=tmp_path, methods=("multitask", "toy_echo"),
                        calibration=False)
    config.check()  # needs no --base-model: the toy runs on --model
    assert config.model_for("toy_echo") == "mt"


def test_the_service_routes_it(toy) -> None:
    model = ScriptedGenerator(lambda _p, j: f"The answer is no because {j}.", name="mt")
    client = TestClient(create_app(model=model))
    schema = client.get("/openapi.json").json()
    route = schema["paths"]["/v1/methods/toy_echo"]["post"]
    assert toy.route == "/v1/methods/toy_echo"
    assert route["summary"] == TITLE and "reads n, seed" in route["description"]
    r = client.post(toy.route, json={"task": "strategyqa", "question": "Is it a toy?",
                                     "n": 3})
    assert r.status_code == 200, r.text
    assert (r.json()["method"], r.json()["answer"]) == ("toy_echo", "yes")
    assert r.json()["text"].endswith("toy n=3.")


def test_the_card_of_its_model_lists_it(toy, tmp_path: Path, monkeypatch) -> None:
    assert publish.role_methods("model") == ("multitask", "wsc", "wsc_soft", "toy_echo")
    assert "toy_echo" not in publish.role_methods("base_model")
    appended = []
    monkeypatch.setattr(publish, "cards_to_update", lambda _c: {tmp_path: ["model"]})
    monkeypatch.setattr("training.recipe.model_card.append_results",
                        lambda folder, results, section: appended.append(
                            (results, section)) or folder / "README.md")
    report = {"config": {"seeds": [0]}, "code": {"commit": "abc"}, "majority": {},
              "accuracy": {"toy_echo": {"strategyqa": {"mean": 0.75, "ci": [0.5, 1.0]}},
                           "cot": {"strategyqa": {"mean": 0.5, "ci": [0.25, 0.75]}}}}
    config = EvalConfig(model="mt", out=tmp_path, methods=("cot", "toy_echo"),
                        calibration=False)
    publish.update_cards(report, config, log=lambda _m: None)
    [(results, section)] = appended
    assert [r.method for r in results] == ["toy_echo"]  # cot's row is the base model's
    assert f"| {TITLE} | StrategyQA |" in section
