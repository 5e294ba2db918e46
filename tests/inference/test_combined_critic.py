"""The combined critic where the methods read it: wsc_soft's weights and refine's threshold
rule take its P(no error), worked out by hand from a stored combiner; the verifier writes one
chain per question, whatever asks; a task without a fit keeps the learned P."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from feedback_data.records.schema import Example
from feedback_data.text.claims import UNDECIDED
from feedback_data.text.instructions import subquestions_prompt, verification_question_prompt
from inference.combined_critic import (
    COMBINER_KEY,
    CombinedCritic,
    feature_row,
    predict_logistic,
    select,
    with_combiner,
)
from inference.methods import run_refine, wsc_sample, wsc_vote
from inference.toy_models import ScriptedGenerator

SPORTS = "sports_understanding"
# verification alone decides: weight 4 on the standardised verification score
MODEL = {"mean": [0.0, 0.5, 0.5], "std": [1.0, 0.5, 0.5], "weights": [0.0, 4.0, 0.0],
         "bias": 0.0}
COMBINER = {"features": ["learned", "verification", "agreement"], "l2": 10.0,
            "verifier": {"model": "verifier", "samples": 0, "temperature": 0.7, "seed": 0,
                         "max_new_tokens": 96},
            "tasks": {SPORTS: MODEL},
            "refine_tau": {"tau": 0.5, "chosen_on": "by hand"}}
HOCKEY = "The answer is yes because Kyle Palmieri is a hockey player. A goal is in hockey."
SOCCER = "The answer is yes because Kyle Palmieri is a soccer player. A goal is in hockey."


def _example(n: int = 0, task: str = SPORTS) -> Example:
    question = f'Is the following sentence plausible? "Kyle Palmieri scored goal {n}."'
    if task != SPORTS:
        question = f"Is water wet number {n}?"
    return Example(id=f"q{n}", task=task, question=question, answer="yes")


def _learned(p_no_error: float = 0.2) -> ScriptedGenerator:
    """A learned critic that gives every chain the same P(no error) and writes the chain
    it is asked to answer with as HOCKEY and SOCCER in turn."""
    return ScriptedGenerator(
        lambda p, j: HOCKEY if j % 2 == 0 else SOCCER, "critic",
        score=lambda p, c: math.log(p_no_error if c == "no error" else (1 - p_no_error) / 15))


def _verifier() -> ScriptedGenerator:
    return ScriptedGenerator(lambda p, j: HOCKEY, "verifier")


def _combined(learned=None, verifier=None) -> CombinedCritic:
    return CombinedCritic(learned or _learned(), verifier or _verifier(), COMBINER)


def _by_hand(verification: float, learned: float = 0.2, agreement: float = 1.0) -> float:
    return predict_logistic(MODEL, select(feature_row(learned, verification, agreement),
                                          COMBINER["features"]))


def test_combine_applies_the_task_fit_and_keeps_the_learned_p_elsewhere() -> None:
    verifier = _verifier()
    critic = _combined(verifier=verifier)
    judged = [(_example(0), HOCKEY, "yes"), (_example(0), SOCCER, "yes"),
              (_example(1, "strategyqa"), "The answer is yes because water is wet.", "yes")]
    probs = critic.combine(judged, [0.2, 0.2, 0.2])
    # HOCKEY names both slots as the verifier does (1.0); SOCCER gets the player's sport
    # wrong and the action's right (0.5)
    assert probs[0] == pytest.approx(_by_hand(1.0)) and probs[0] > 0.9
    assert probs[1] == pytest.approx(_by_hand(0.5)) == pytest.approx(0.5)
    assert probs[2] == 0.2  # StrategyQA has no fit: the learned P
    # one verifier chain per question, written once, kept for the next call
    critic.combine(judged[:1], [0.2])
    prompts = [p for call in verifier.calls for p in call["prompts"]]
    assert len(prompts) == 1
    with pytest.raises(ValueError, match="2 chains but 1 learned"):
        critic.combine(judged[:2], [0.2])


def test_with_combiner_wraps_only_a_checkpoint_holding_one(tmp_path: Path) -> None:
    learned = _learned()
    learned.info = {"path": str(tmp_path)}
    assert with_combiner(learned, lambda spec: pytest.fail("nothing to load")) is learned
    (tmp_path / "critic.json").write_text(json.dumps({"scoring": "sum", "temperature": 1.0,
                                                      COMBINER_KEY: COMBINER}))
    loaded: list[str] = []
    wrapped = with_combiner(learned, lambda spec: loaded.append(spec) or _verifier())
    assert isinstance(wrapped, CombinedCritic) and loaded == ["verifier"]
    assert wrapped.info == learned.info  # reads through to the learned critic
    assert wrapped.describe() == {"combined": True, "features": COMBINER["features"],
                                  "verifier": "verifier", "planner": None, "tasks": [SPORTS]}


def test_wsc_soft_weighs_by_the_combined_p_and_wsc_keeps_the_paper_weights() -> None:
    examples = [_example(0)]
    critic = _combined()
    samples = wsc_sample(_learned(), examples, n=4, critic=critic)
    assert samples.combined is not None
    hockey, soccer = _by_hand(1.0), _by_hand(0.5)
    assert samples.combined[0] == pytest.approx([hockey, soccer, hockey, soccer])
    soft = wsc_vote(examples, samples, w=0.5, soft=True)[0]
    assert soft.meta["weights"] == pytest.approx([0.5 + 0.5 * p for p in
                                                  (hockey, soccer, hockey, soccer)])
    assert soft.meta["p_learned"] == pytest.approx([0.2] * 4)
    paper = wsc_vote(examples, samples, w=0.5)[0]
    # the learned argmax label is 'no error' (0.2 against 0.8 / 15 for each other label)
    assert paper.meta["weights"] == [1.0] * 4
    # without a combiner, wsc_soft reads the learned P
    plain = wsc_vote(examples, wsc_sample(_learned(), examples, n=4), w=0.5, soft=True)[0]
    assert plain.meta["weights"] == pytest.approx([0.5 + 0.5 * 0.2] * 4)
    assert "p_learned" not in plain.meta


def test_refine_threshold_rule_asks_the_combined_critic() -> None:
    """Both chains get a learned P of 0.2 (< τ 0.6); the combined critic keeps the verified
    one (P ≈ 0.98) and sends the other (P 0.5) to the refine model."""
    examples = [_example(0), _example(1)]
    refiner = ScriptedGenerator(lambda p, j: "no error ; " + HOCKEY, "refine")
    preds = run_refine(refiner, examples, [HOCKEY, SOCCER], rule="threshold",
                       critic=_combined(), tau=0.6)
    assert preds[0].meta["stop"] == "critic_no_error" and preds[0].meta["rounds"] == 0
    assert preds[0].meta["p_no_error"] == [pytest.approx(_by_hand(1.0))]
    assert preds[1].meta["rounds"] == 1 and preds[1].meta["stop"] == "no_error"
    assert preds[1].meta["combined_critic"]["verifier"] == "verifier"
    # the learned critic alone rewrites both
    alone = run_refine(refiner, examples, [HOCKEY, SOCCER], rule="threshold",
                       critic=_learned(), tau=0.6)
    assert [p.meta["rounds"] for p in alone] == [1, 1]


def test_rhf_infer_loads_the_combined_critic_for_the_methods_that_read_it(
        tmp_path: Path, monkeypatch) -> None:
    """`rhf infer`'s loader: wsc_soft and refine (with --critic-model) read the combined
    critic when the critic's checkpoint holds a combiner, its verifier the base model already
    loaded; cot does not load it."""
    from inference import infer
    from inference.backends import Backend
    from inference.dispatch import METHOD_REGISTRY, MethodParams

    (tmp_path / "critic.json").write_text(json.dumps({COMBINER_KEY: COMBINER}))
    loaded: list[str] = []

    def fake_load(spec, **_kw):
        loaded.append(str(spec))
        model = _learned() if spec != "verifier" else _verifier()
        model.info = {"path": str(tmp_path) if spec == "mt" else f"/nowhere/{spec}"}
        return model

    monkeypatch.setattr(Backend, "load", staticmethod(fake_load))
    params = MethodParams(refine_rule="threshold")
    got = infer._load(infer.InferModels("mt"), METHOD_REGISTRY.get("wsc_soft"), params,
                      "cpu", "float32", None)
    assert isinstance(got["critic_model"], CombinedCritic) and loaded == ["mt", "verifier"]
    loaded.clear()
    got = infer._load(infer.InferModels("refine", "verifier", "mt"),
                      METHOD_REGISTRY.get("refine"), params, "cpu", "float32", None)
    assert isinstance(got["critic_model"], CombinedCritic)
    assert got["critic_model"].verifier is got["base_model"]  # loaded once
    assert loaded == ["refine", "verifier", "mt"]
    loaded.clear()
    got = infer._load(infer.InferModels("mt"), METHOD_REGISTRY.get("cot"), params, "cpu",
                      "float32", None)
    assert "critic_model" not in got and loaded == ["mt"]
    loaded.clear()  # refine under the paper's rule reads no critic: no verifier loaded
    got = infer._load(infer.InferModels("refine", "verifier", "mt"),
                      METHOD_REGISTRY.get("refine"), MethodParams(), "cpu", "float32", None)
    assert not isinstance(got["critic_model"], CombinedCritic)


# --- the planned subquestions (Chain-of-Verification's verification questions) -------------

# the planned subquestions' score alone decides
PLANNED_MODEL = {"mean": [0.0, 0.5, 0.5, 0.5], "std": [1.0, 0.5, 0.5, 0.5],
                 "weights": [0.0, 0.0, 0.0, 4.0], "bias": 0.0}
PLANNED = {**COMBINER, "features": ["learned", "verification", "agreement", "subquestions"],
           "verifier": {**COMBINER["verifier"], "planner": "planner", "max_subquestions": 2},
           "tasks": {SPORTS: PLANNED_MODEL}}
ANSWERS = {"Who is Kyle Palmieri?": "The answer is yes because Kyle Palmieri is a hockey "
                                    "player.",
           "What is a goal?": "A goal is scored in hockey."}


def _planner(text: str = "Who is Kyle Palmieri? What is a goal? Who scored?") -> \
        ScriptedGenerator:
    return ScriptedGenerator(lambda p, j: text, "planner")


def _answering_verifier() -> ScriptedGenerator:
    """Answers a subquestion from ANSWERS; any other prompt (its own CoT chain) with a chain
    that names no sport, so only the planned questions can verify."""
    def reply(prompt: str, j: int) -> str:
        for q, a in ANSWERS.items():
            if prompt == verification_question_prompt(q):
                return a
        return "The answer is yes because it is plausible."
    return ScriptedGenerator(reply, "verifier")


def test_planned_subquestions_are_asked_one_by_one_and_scored_by_hand() -> None:
    """The planner writes three questions, two are kept (max_subquestions); the verifier
    answers each alone; HOCKEY names both slots as the answers do (1.0), SOCCER the
    player's wrongly (0.5). Questions and answers are written once per question."""
    planner, verifier = _planner(), _answering_verifier()
    critic = CombinedCritic(_learned(), verifier, PLANNED, planner=planner)
    judged = [(_example(0), HOCKEY, "yes"), (_example(0), SOCCER, "yes")]
    sig = critic.signals_of(judged)
    assert [s[2] for s in sig] == [1.0, 0.5]
    assert [s[0] for s in sig] == [UNDECIDED, UNDECIDED]  # its own chain names no sport
    probs = critic.combine(judged, [0.2, 0.2])
    assert probs == pytest.approx([predict_logistic(PLANNED_MODEL, feature_row(0.2, *s))
                                   for s in sig])
    assert probs[0] == pytest.approx(1 / (1 + math.exp(-4.0)))
    assert [c["prompts"] for c in planner.calls] == [[subquestions_prompt(
        _example(0).question)]]
    asked = [p for c in verifier.calls for p in c["prompts"]]
    assert sorted(p for p in asked if p.startswith("Q: Who") or p.startswith("Q: What")) \
        == sorted(verification_question_prompt(q) for q in ANSWERS)
    assert len(asked) == 3  # two subquestions and its own chain, once


def test_a_planner_without_a_question_leaves_the_score_undecided() -> None:
    critic = CombinedCritic(_learned(), _answering_verifier(), PLANNED,
                            planner=_planner("I cannot say."))
    (sig,) = critic.signals_of([(_example(0), HOCKEY, "yes")])
    assert sig[2] == UNDECIDED


def test_the_subquestions_feature_needs_a_planner(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no planner"):
        CombinedCritic(_learned(), _verifier(), PLANNED)
    with pytest.raises(ValueError, match="needs a planner"):
        select(feature_row(0.2, 1.0, 1.0), PLANNED["features"])
    # a stored planner: "self" is the learned critic, any other spec is loaded
    learned = _learned()
    learned.info = {"path": str(tmp_path)}
    (tmp_path / "critic.json").write_text(json.dumps({COMBINER_KEY: {
        **PLANNED, "verifier": {**PLANNED["verifier"], "planner": "self"}}}))
    loaded: list[str] = []
    wrapped = with_combiner(learned, lambda spec: loaded.append(spec) or _verifier())
    assert wrapped.planner is learned and loaded == ["verifier"]
    (tmp_path / "critic.json").write_text(json.dumps({COMBINER_KEY: PLANNED}))
    wrapped = with_combiner(learned, lambda spec: loaded.append(spec) or _planner())
    assert loaded[1:] == ["planner", "verifier"] and wrapped.describe()["planner"] == "planner"
