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
    from feedback_data.records.store import load_paper_feedback

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
