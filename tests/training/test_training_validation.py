"""Validation during training: metrics from generation and the critic's label scores, the
best checkpoint kept as final/, early stopping, and the splits it rests on."""

from __future__ import annotations

import json
import math

import pytest
import torch

from feedback_data.text.critic_labels import ERROR_LABELS, no_error_probability
from tests.training.conftest import weights
from training.recipe.validation import (
    Selection,
    _accuracy_metrics,
    _auroc_metrics,
    auroc,
    is_better,
)


def test_auroc_counts_ties_half():
    assert auroc([0.9, 0.8, 0.3, 0.3], [True, False, True, False]) == 0.625
    assert auroc([0.1, 0.2], [True, True]) is None


def test_accuracy_is_the_mean_over_tasks(real_data):
    from feedback_data.records.schema import Example

    def ex(task: str, answer: str) -> Example:
        return Example(id=f"{task}/{answer}", task=task, question="q?", answer=answer)

    examples = [ex("strategyqa", "yes"), ex("strategyqa", "no"),
                ex("sports_understanding", "yes")]
    m = _accuracy_metrics(examples, ["yes", None, "yes"])
    assert m == {"val/accuracy_sports_understanding": 1.0, "val/accuracy_strategyqa": 0.5,
                 "val/accuracy": 0.75, "val/unparsed": pytest.approx(1 / 3)}


def test_selection_keeps_the_best_and_runs_out_of_patience():
    sel = Selection("val/accuracy", patience=2)
    assert sel.update({"val/accuracy": 0.5}, 10)
    assert not sel.update({"val/accuracy": 0.5}, 20)  # equal is not better
    assert sel.update({"val/accuracy": 0.7}, 30)
    assert not sel.update({"val/accuracy": 0.6}, 40) and not sel.should_stop()
    assert not sel.update({"val/accuracy": float("nan")}, 50) and sel.should_stop()
    assert (sel.best, sel.best_step) == (0.7, 30)
    assert Selection.from_state(sel.state(), "val/accuracy", 2).state() == sel.state()
    assert is_better("eval/loss", 1.0, 2.0) and not is_better("eval/loss", 3.0, 2.0)
    with pytest.raises(KeyError, match="not among the evaluation's metrics"):
        sel.update({"val/auroc": 0.5}, 60)


def test_detection_metrics_per_task(real_data):
    from feedback_data.sources.paper_import import load_paper_feedback

    items = load_paper_feedback("sports_understanding", "train")[:20]
    gold = [not i.feedback.error_types for i in items]
    perfect = [1.0 if g else 0.0 for g in gold]
    m = _auroc_metrics(items, perfect)
    assert m == {"val/auroc_sports_understanding": 1.0, "val/auroc": 1.0,
                 "val/auroc_pooled": 1.0}
    both = items + load_paper_feedback("strategyqa", "train")[:20]
    inverted = perfect + [0.0 if not i.feedback.error_types else 1.0 for i in both[20:]]
    m = _auroc_metrics(both, inverted)  # perfect on Sports, exactly wrong on StrategyQA
    assert (m["val/auroc_sports_understanding"], m["val/auroc_strategyqa"]) == (1.0, 0.0)
    assert m["val/auroc"] == 0.5


def test_label_scores_match_a_direct_forward_pass(tiny_model):
    """The validator's label log-probabilities are the complete-sequence log-probabilities
    a plain teacher-forced forward pass gives, for all sixteen labels."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from training.recipe.validation import label_logps

    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_model).eval()
    tok = AutoTokenizer.from_pretrained(tiny_model)
    prompts = ["Which errors? Question: a\nAnswer: b", "Which errors? Question: c d e"]
    rows = label_logps(model, tok, prompts, 64, True, torch.device("cpu"))
    assert len(rows) == 2 and all(len(r) == len(ERROR_LABELS) == 16 for r in rows)
    for prompt, row in zip(prompts, rows, strict=True):
        for label, got in zip(ERROR_LABELS[:3] + ERROR_LABELS[-2:], row[:3] + row[-2:],
                              strict=True):
            enc = tok([prompt], return_tensors="pt")
            ids = tok(text_target=[label], return_tensors="pt")["input_ids"]
            with torch.no_grad():
                logits = model(**enc, labels=ids).logits
            want = torch.log_softmax(logits, -1).gather(-1, ids[..., None]).sum()
            assert got == pytest.approx(float(want), abs=1e-4)
        assert 0.0 < no_error_probability(row) < 1.0


def test_validation_selects_the_best_and_stops_early(make_cfg, tmp_path):
    """A run validated every 2 steps with select_by val/accuracy: val/ metrics in
    metrics.jsonl, the best evaluation's weights as final/ (equal to best/), its step and
    metrics in run.json."""
    from training.recipe.objectives import train

    out = tmp_path / "val"
    final = train(make_cfg("multitask", out=out, **{
        "data.max_records": 0, "data.tasks": ["sports_understanding"],
        "data.eval_fraction": 0.05, "data.eval_max": 16, "train.validate": True,
        "train.val_statements": 8, "train.val_max_new_tokens": 8, "train.max_steps": 6,
        "train.eval_every": 2, "train.select_by": "val/score", "train.patience": 1}))
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [x for x in lines if "val/accuracy" in x]
    assert evals and all(0.0 <= x["val/auroc"] <= 1.0 for x in evals)
    assert all(x["val/score"] == pytest.approx((x["val/accuracy"] + x["val/auroc"]) / 2)
               for x in evals)
    run = json.loads((out / "run.json").read_text())
    v = run["validation"]
    assert v["select_by"] == "val/score" and v["evaluations"] == len(evals)
    best = max(evals, key=lambda x: (x["val/score"], -x["step"]))
    assert v["best_step"] == best["step"] and v["best"] == pytest.approx(best["val/score"])
    if v["stopped_early_at"] is not None:  # patience 1: one evaluation without a better one
        assert v["stopped_early_at"] == v["best_step"] + 2
    got, kept = weights(final), weights(out / "best")
    assert got.keys() == kept.keys() and all(torch.equal(got[k], kept[k]) for k in got)
    assert json.loads((final / "run.json").read_text())["validation"]["best_step"] == \
        v["best_step"]
    assert run["counts"]["validation"]["statements"] == 8
    assert not math.isnan(v["best"])


class _OneProcess:
    """What the validators use of an accelerate Accelerator, on one CPU process."""

    process_index, num_processes, device = 0, 1, torch.device("cpu")

    def unwrap_model(self, model):
        return model


def _validator(objective: str, items, examples):
    from training.recipe.objectives import OBJECTIVE_REGISTRY
    from training.recipe.validation import Validator

    return Validator(objective, examples, items, 128, 8, "answer_first",
                     run=OBJECTIVE_REGISTRY.get(objective).validate)


def test_each_objective_validates_through_its_registry_entry(tiny_model, monkeypatch):
    """The critic objective's validator scores the held-out records (detection AUROCs, the
    val/auroc_all its configs select by) and generates nothing, although validation
    questions are there; the multitask one answers them too and adds val/score. Before the
    registry named each objective's validator, any objective but refine ran multitask's."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from feedback_data.sources.paper_import import load_paper_feedback
    from training.recipe import validation

    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_model).train()
    tok = AutoTokenizer.from_pretrained(tiny_model)
    items = load_paper_feedback("strategyqa", "train")[:12]
    examples = [i.example for i in items[:3]]
    asked: list[list[str]] = []

    def fake_generate(model, tokenizer, prompts, *args, **kwargs):
        asked.append(prompts)
        return ["The answer is yes because so." for _ in prompts]

    monkeypatch.setattr(validation, "generate", fake_generate)
    critic = _validator("critic", items, examples)
    metrics = critic(model, tok, _OneProcess())
    assert not asked and model.training  # nothing generated; the model back in training mode
    assert {"val/auroc", "val/auroc_pooled", "val/auroc_all", "val/auroc_strategyqa"} <= \
        set(metrics)
    assert not {"val/accuracy", "val/unparsed", "val/score"} & set(metrics)
    assert len(critic.last_rows) == len(items) and len(critic.first_ids) == 16
    assert Selection("val/auroc_all").update(metrics, 1)  # configs/critic's select_by

    multitask = _validator("multitask", items, examples)(model, tok, _OneProcess())
    assert len(asked) == 1 and len(asked[0]) == len(examples)
    assert multitask["val/accuracy"] == pytest.approx(
        sum(e.answer == "yes" for e in examples) / len(examples))
    assert multitask["val/score"] == pytest.approx(
        (multitask["val/accuracy"] + multitask["val/auroc"]) / 2)
    assert {k: v for k, v in multitask.items() if k.startswith("val/auroc")} == metrics


def test_refine_is_validated_by_the_evaluation_protocol(tiny_model, monkeypatch):
    """train.refine_val_rounds 2: the start chains are written once, before training, from
    the 0-shot CoT prompt; then each validation refines them for up to 2 rounds under the
    paper's rule. Worked by hand (gold yes, no, yes, no; every start chain says yes):
    S0 kept (right), S1 -> B1 (right) then kept, S2 -> C2 (wrong) -> D2 (right, max rounds),
    S3 kept (wrong): accuracy 3/4 from 2/4, one wrong -> right, mean rounds 6/4."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from feedback_data.sources.paper_import import load_paper_feedback
    from feedback_data.tasks.prompts import cot_prompt
    from training.recipe import validation

    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_model).train()
    tok = AutoTokenizer.from_pretrained(tiny_model)
    items = load_paper_feedback("strategyqa", "train")[:4]
    examples = [i.example.model_copy(update={"answer": a})
                for i, a in zip(items, ["yes", "no", "yes", "no"], strict=True)]
    script = {"S0": "no error ; The answer is yes because S0.",
              "S1": "factual error ; The answer is no because B1.",
              "S2": "factual error ; The answer is no because C2.",
              "S3": "no error ; The answer is yes because S3.",
              "B1": "no error ; The answer is no because B1.",
              "C2": "factual error ; The answer is yes because D2."}
    asked: list[list[str]] = []

    def fake_generate(model, tokenizer, prompts, *args, **kwargs):
        asked.append(prompts)
        out = []
        for p in prompts:
            marks = [k for k in script if f"because {k}." in p]
            which = [n for n, ex in enumerate(examples) if ex.question in p]
            out.append(script[marks[0]] if marks else f"The answer is yes because S{which[0]}.")
        return out

    monkeypatch.setattr(validation, "generate", fake_generate)
    v = _validator("refine", items, examples)
    v.protocol_rounds = 2
    v.before_training(model, tok, _OneProcess())
    assert asked == [[cot_prompt("strategyqa", ex.question, []) for ex in examples]]
    assert v.start_chains == [f"The answer is yes because S{n}." for n in range(4)]
    metrics = v(model, tok, _OneProcess())
    assert metrics["val/protocol_start_accuracy"] == \
        metrics["val/protocol_start_accuracy_strategyqa"] == 0.5
    assert metrics["val/protocol_accuracy"] == metrics["val/protocol_accuracy_strategyqa"] \
        == 0.75
    assert metrics["val/protocol_wrong_to_right"] == 0.25
    assert metrics["val/protocol_right_to_wrong"] == 0.0
    assert metrics["val/protocol_mean_rounds"] == 1.5
    # the one-round check on the paper's chains ran first; then round 1 (4 chains), round 2
    assert [len(a) for a in asked[1:]] == [4, 4, 2] and model.training
    off = _validator("refine", items, examples)
    off.before_training(model, tok, _OneProcess())
    assert not off.start_chains and "val/protocol_accuracy" not in off(model, tok,
                                                                       _OneProcess())


def test_a_refine_run_logs_the_protocol_metrics_and_other_objectives_refuse_them(
        make_cfg, tmp_path):
    from training.recipe.objectives import train
    from training.run.config import ConfigError

    out = tmp_path / "refine"
    train(make_cfg("refine", out=out, **{
        "data.eval_fraction": 0.3, "data.eval_max": 6, "train.validate": True,
        "train.val_max_new_tokens": 8, "train.max_steps": 2, "train.eval_every": 2,
        "train.refine_val_rounds": 2}))
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [x for x in lines if "val/protocol_accuracy" in x]
    assert evals and all(0.0 <= x["val/protocol_mean_rounds"] <= 2.0 for x in evals)
    for x in evals:  # one task: accuracy moves by the flips exactly
        if len([k for k in x if k.startswith("val/protocol_accuracy_")]) == 1:
            assert x["val/protocol_accuracy"] - x["val/protocol_start_accuracy"] == \
                pytest.approx(x["val/protocol_wrong_to_right"] - x["val/protocol_right_to_wrong"])
    with pytest.raises(ConfigError, match="validates the refine objective"):
        train(make_cfg("multitask", out=tmp_path / "mt", **{"train.refine_val_rounds": 1}))
    with pytest.raises(ConfigError, match="refine_val_rounds must be >= 0"):
        train(make_cfg("refine", out=tmp_path / "neg", **{"train.refine_val_rounds": -1}))
