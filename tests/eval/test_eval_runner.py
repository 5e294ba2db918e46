"""run_eval with scripted models: Table 1's numbers, paired tests and reuse, worked by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from eval.config import EvalConfig
from eval.runner import run_eval
from eval.stats import wilson_interval
from feedback_data.sources.splits import dev_examples
from inference.toy_models import ScriptedGenerator

TASK = "sports_understanding"
FLIP = {"yes": "no", "no": "yes"}


class Scripted(ScriptedGenerator):
    info: dict = {}
    device = "cpu"


def chain(answer: str) -> str:
    return f"The answer is {answer} because of the rules."


def scripted_models(examples) -> dict[str, Scripted]:
    """base: right on questions 0-2, wrong on 3-5 (cot). mt: greedy wrong on question 0 only;
    its samples: sample 0 of question 0 wrong, every other right, each labelled 'no error'
    with P .7. refine: always 'no error' with a written chain that flips the given answer."""

    def find(prompt: str) -> tuple[int, str]:
        hits = [(i, ex.answer) for i, ex in enumerate(examples) if ex.question in prompt]
        assert len(hits) == 1, prompt
        return hits[0]

    def base(prompt: str, _j: int) -> str:
        i, gold = find(prompt)
        return chain(gold if i < 3 else FLIP[gold])

    def mt(prompt: str, j: int) -> str:
        i, gold = find(prompt)
        return chain(FLIP[gold] if (i, j) == (0, 0) else gold)

    def refine(prompt: str, _j: int) -> str:
        given = prompt.rsplit("The answer is ", 1)[1].split(" ")[0]
        return "no error ; " + chain(FLIP[given])

    def score(_prompt: str, choice: str) -> float:
        return math.log(0.7 if choice == "no error" else 0.075)

    return {"base": Scripted(base, "base"), "mt": Scripted(mt, "mt", score=score),
            "refine": Scripted(refine, "refine")}


@pytest.fixture()
def scripted(monkeypatch: pytest.MonkeyPatch):
    from inference.backends import Backend

    examples = dev_examples(TASK)[:6]
    models = scripted_models(examples)
    monkeypatch.setattr(Backend, "load", staticmethod(lambda spec, **_kw: models[spec]))
    return examples, models


def config(tmp_path: Path, **kw) -> EvalConfig:
    return EvalConfig.of(model="mt", base_model="base", refine_model="refine", out=tmp_path,
                      tasks=(TASK,), limit=6, k=0, n=4, rounds=2, calibration=False,
                      plots=False, bootstrap=200, **{"seeds": (0, 1), "selective_dev": False}
                      | kw)


def test_table1_numbers_and_paired_tests_by_hand(scripted, tmp_path: Path) -> None:
    examples, models = scripted
    report = run_eval(config(tmp_path), log=lambda _m: None)
    acc = report["accuracy"]
    # cot 3/6; multitask 5/6; wsc: question 0 votes 1 wrong vs 3 right -> all 6 right.
    assert acc["cot"][TASK]["per_seed"] == [0.5, 0.5]
    assert acc["multitask"][TASK]["mean"] == pytest.approx(5 / 6)
    assert acc["wsc"][TASK]["per_seed"] == [1.0, 1.0]
    assert acc["wsc_soft"][TASK]["per_seed"] == [1.0, 1.0]
    # refine: 'no error' at round 1 keeps the given (cot) chain, so it equals cot.
    assert acc["refine"][TASK]["per_seed"] == [0.5, 0.5]
    # k = 0: the same prompt for both seeds -> cot, refine (and greedy multitask) computed
    # once, reported with the Wilson interval of 3/6; wsc samples per seed -> bootstrap.
    cot = acc["cot"][TASK]
    assert (cot["seed_dependent"], cot["ci_method"]) == (False, "wilson")
    assert cot["ci"] == pytest.approx(list(wilson_interval(3, 6)))
    assert (acc["wsc"][TASK]["ci_method"], acc["wsc"][TASK]["ci"]) == ("bootstrap", [1.0, 1.0])
    base_calls = [c for c in models["base"].calls]
    assert len(base_calls) == 1 and len(models["refine"].calls) == 1
    assert sum(1 for c in models["mt"].calls if c.get("n") == 1) == 1  # multitask once
    assert sum(1 for c in models["mt"].calls if c.get("n") == 4) == 2  # wsc per seed
    # one scoring pass per seed serves wsc and wsc_soft
    assert sum(1 for c in models["mt"].calls if "choices" in c) == 2
    # McNemar against cot, per seed. multitask: won {3, 4, 5}, lost {0}: d = 4,
    # P(X <= 1) = (1 + 4) / 16 -> p = 10/16. wsc: won 3, lost 0: p = 2 / 8. refine: no change.
    vs = {m: acc[m][TASK]["vs_cot"][0] for m in ("multitask", "wsc", "refine")}
    assert vs["multitask"] == {"seed": 0, "won": 3, "lost": 1, "discordant": 4,
                               "p_value": 0.625}
    assert (vs["wsc"]["won"], vs["wsc"]["lost"], vs["wsc"]["p_value"]) == (3, 0, 0.25)
    assert (vs["refine"]["won"], vs["refine"]["lost"], vs["refine"]["p_value"]) == (0, 0, 1.0)
    # majority class of these six questions
    gold = [ex.answer for ex in examples]
    top = max(("no", "yes"), key=lambda a: (gold.count(a), a == "no"))
    assert report["majority"][TASK]["answer"] == top
    assert report["majority"][TASK]["accuracy"] == gold.count(top) / 6
    stored = json.loads((tmp_path / "report.json").read_text())
    assert stored["accuracy"] == acc and stored["statistics"]["bootstrap"]["b"] == 200
    md = (tmp_path / "report.md").read_text()
    assert "| Multitask fine-tuned | s0: +3 / −1, p 0.625; s1: +3 / −1, p 0.625 |" in md
    assert "| CoT k-shot ICL (base model) | 50.00 [" in md  # one result: no ± std


def test_refine_keep_written_takes_the_written_chain(scripted, tmp_path: Path) -> None:
    report = run_eval(config(tmp_path, seeds=(0,), methods=("cot", "refine"),
                             refine_keep="written"), log=lambda _m: None)
    # The written chain flips every cot answer: right on 3-5, wrong on 0-2.
    vs = report["accuracy"]["refine"][TASK]["vs_cot"][0]
    assert (vs["won"], vs["lost"], vs["p_value"]) == (3, 3, 1.0)
    assert report["runs"][-1]["params"]["keep"] == "written"


def test_models_are_required_not_substituted(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--base-model is required for cot, refine, the ICL"):
        EvalConfig(model="mt", out=tmp_path).check()
    with pytest.raises(ValueError, match="--base-model is required for cot$|for cot \\("):
        EvalConfig(model="mt", out=tmp_path, methods=("cot",), calibration=False).check()
    with pytest.raises(ValueError, match="--refine-model is required for refine"):
        EvalConfig(model="mt", base_model="b", out=tmp_path, methods=("refine",)).check()
    with pytest.raises(ValueError, match="--refine-keep must be one of given, written"):
        EvalConfig.of(model="mt", base_model="b", refine_model="r", out=tmp_path,
                   refine_keep="last").check()
    with pytest.raises(ValueError, match="--wsc-batch-rows must be >= 1, got 0"):
        EvalConfig.of(model="mt", out=tmp_path, methods=("wsc",), calibration=False,
                   wsc_batch_rows=0).check()
    # Methods that use --model only need nothing else.
    EvalConfig(model="mt", out=tmp_path, methods=("multitask", "wsc"),
               calibration=False).check()
