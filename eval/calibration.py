"""Error-detection calibration on the paper's 173 StrategyQA records.

Each record gives a question, a model's chain and the annotators' error types. The model is
asked whether the chain has an error: the fine-tuned model with the error-types instruction it
was trained on, a base model with a k-shot detection prompt built from 4 of the records (left
out of its score).

Decision (the paper's score): the generated label, read with ``parse_error_types_text``.
Probability: P(no error) is the softmax of the complete-sequence log-probabilities of the
five single labels the model was trained to write ('no error' and the four error types), i.e.
the model's own probability of 'no error' renormalised over that closed label set.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from eval.metrics import (
    auroc,
    detection_accuracy,
    expected_calibration_error,
    reliability_bins,
)
from feedback_data.schema import ERROR_CODES, FeedbackItem
from inference.chains import TextGenerator
from inference.methods import CRITIQUE_TOKENS
from inference.prompts import detection_prompt, detection_shots
from training.instructions import (
    NO_ERROR,
    error_types_prompt,
    error_types_text,
    parse_error_types_text,
)

LABELS: tuple[str, ...] = (NO_ERROR, *(error_types_text([c]) for c in ERROR_CODES))
ICL_SHOTS = 4


class Scorer(TextGenerator, Protocol):
    def score_choices(self, prompts: list[str], choices: list[str],
                      batch_size: int | None = None) -> list[list[float]]: ...


def softmax_first(logps: list[float]) -> float:
    """exp(l0) / sum(exp(li)), computed stably."""
    top = max(logps)
    exps = [math.exp(x - top) for x in logps]
    return exps[0] / sum(exps)


def no_error_probabilities(model: Scorer, prompts: list[str],
                           batch_size: int | None = None) -> list[float]:
    """P('no error') per prompt, normalised over :data:`LABELS`."""
    return [softmax_first(row) for row in
            model.score_choices(prompts, list(LABELS), batch_size=batch_size)]


def read_label(text: str) -> bool | None:
    """True for 'no error', False for any named error, None when neither can be read."""
    codes = parse_error_types_text(text.strip().split("\n")[0])
    return None if codes is None else codes == []


def calibrate(model: Scorer, items: list[FeedbackItem], *, icl: bool = False,
              batch_size: int | None = None, bins: int = 10) -> dict[str, Any]:
    """Ask ``model`` whether each record's chain has an error; score and calibrate.

    ``icl=True`` prompts k-shot with :data:`ICL_SHOTS` of the records as shots, which are
    then left out of the score.
    """
    shots = detection_shots(items, ICL_SHOTS) if icl else []
    shot_ids = {s.feedback.id for s in shots}
    scored = [i for i in items if i.feedback.id not in shot_ids]
    if icl:
        prompts = [detection_prompt(i.example.question, i.chain.text, shots) for i in scored]
    else:
        prompts = [error_types_prompt(i.example.question, i.chain.text) for i in scored]
    outs = model.generate(prompts, max_new_tokens=CRITIQUE_TOKENS, batch_size=batch_size,
                          desc="calibration" + (" (icl)" if icl else ""))
    predicted = [read_label(o[0]) for o in outs]
    gold = [not i.feedback.error_types for i in scored]
    probs = no_error_probabilities(model, prompts, batch_size=batch_size)
    return {
        "model": model.name,
        "mode": "icl" if icl else "finetuned",
        "n": len(scored),
        "left_out": sorted(shot_ids),
        "accuracy": detection_accuracy(predicted, gold),
        "unreadable": sum(p is None for p in predicted),
        "accuracy_p_ge_half": detection_accuracy([p >= 0.5 for p in probs], gold),
        "auroc": auroc(probs, gold),
        "ece": expected_calibration_error(probs, gold, bins),
        "bins": reliability_bins(probs, gold, bins),
        "gold_no_error_share": sum(gold) / len(gold),
        "records": [{"feedback_id": i.feedback.id, "generated": o[0], "predicted_no_error": p,
                     "p_no_error": pr, "gold_no_error": g}
                    for i, o, p, pr, g in zip(scored, outs, predicted, probs, gold,
                                              strict=True)],
    }
