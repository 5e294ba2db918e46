"""Error-detection calibration on the detection sets
(:func:`feedback_data.sources.splits.detection_sets`): the paper's 173 StrategyQA records,
and the Sports detection set (20% of the paper's Sports feedback, by question, never trained
on when ``data.holdout_detection`` is on).

Each record gives a question, a model's chain and the annotators' error types. The model is
asked whether the chain has an error: the fine-tuned model with the error-types instruction it
was trained on, a base model with a k-shot detection prompt whose 4 shots come from the
same task's TRAINING feedback (never a detection record), so that both models score the same
records.

Decision (the paper's score): the generated label, read with ``parse_error_types_text``.
Probability: P(no error) is the softmax of the log-probabilities of every label the model was
trained to write ('no error' and the 15 combinations of the four error types,
:mod:`feedback_data.text.critic_labels`), i.e. the model's own probability of 'no error'
renormalised over that closed label set. The fine-tuned critic's scores are read as its
checkpoint's ``critic.json`` says (label scoring and temperature, fitted on validation); the
ICL baseline's at T 1 over the summed scores.

Detection accuracy and AUROC come with percentile bootstrap 95% CIs over the records
(:mod:`eval.stats`); an unreadable generated label counts as wrong and is counted.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from eval.detection_baselines import CONTENT_FREE_INPUTS
from eval.metrics import (
    auroc,
    detection_accuracy,
    expected_calibration_error,
    reliability_bins,
)
from eval.stats import DEFAULT_B, bootstrap_auroc_ci, bootstrap_mean_ci
from feedback_data.records.schema import FeedbackItem
from feedback_data.tasks.prompts import detection_prompt, detection_shots
from feedback_data.text.critic_labels import (
    ERROR_LABELS,
    CriticReading,
    read_no_error,
    reading_of,
)
from feedback_data.text.instructions import error_types_prompt, parse_error_types_text
from inference.methods import CRITIQUE_TOKENS, Scorer

LABELS: tuple[str, ...] = ERROR_LABELS
ICL_SHOTS = 4


@lru_cache(maxsize=4)
def icl_shots(k: int = ICL_SHOTS, task: str = "strategyqa") -> tuple[FeedbackItem, ...]:
    """The ICL baseline's k detection shots, from the paper's training feedback of ``task``
    (for Sports, outside the Sports detection set)."""
    from feedback_data.sources.paper_import import load_paper_feedback
    from feedback_data.sources.splits import is_sports_detection

    pool = [i for i in load_paper_feedback(task, "train") if not is_sports_detection(i)]
    return tuple(detection_shots(pool, k))


def read_label(text: str, words: tuple[str, ...] | None = None) -> bool | None:
    """True for 'no error', False for any named error, None when neither can be read
    (``words``: the critic's label words, if it was trained on them)."""
    codes = parse_error_types_text(text.strip().split("\n")[0], words)
    return None if codes is None else codes == []


def calibrate(model: Scorer, items: list[FeedbackItem], *, icl: bool = False,
              shots: list[FeedbackItem] | None = None, batch_size: int | None = None,
              bins: int = 10, bootstrap: int = DEFAULT_B,
              bootstrap_seed: int = 0, task: str = "strategyqa",
              content_free: bool = False) -> dict[str, Any]:
    """Ask ``model`` whether each record's chain has an error; score and calibrate.

    ``icl=True`` prompts k-shot; the shots are ``shots`` or :func:`icl_shots` (training
    feedback). Every record of ``items`` is scored; a shot that is also a record is an error.
    """
    if icl and shots is None:
        shots = list(icl_shots(task=task))
    shots = shots if icl else []
    shot_ids = {s.feedback.id for s in shots}
    shot_questions = {s.example.question.strip().lower() for s in shots}
    overlap = [i.feedback.id for i in items if i.feedback.id in shot_ids
               or i.example.question.strip().lower() in shot_questions]
    if overlap:
        raise ValueError(f"ICL shot is also a scored record: {overlap[0]}")
    scored = items
    if icl:
        prompts = [detection_prompt(i.example.question, i.chain.text, shots) for i in scored]
    else:
        prompts = critic_prompts(model, [(i.example.question, i.chain.text) for i in scored])
    # the fine-tuned critic read as its critic.json says (as the combined critic reads it:
    # its scoring, temperature and label words); the ICL baseline's k-shot prompt at T 1
    # over the summed scores of the label texts
    reading = CriticReading() if icl else reading_of(model)
    outs = model.generate(prompts, max_new_tokens=CRITIQUE_TOKENS, batch_size=batch_size,
                          desc="calibration" + (" (icl)" if icl else ""))
    predicted = [read_label(o[0], reading.label_words) for o in outs]
    gold = [not i.feedback.error_types for i in scored]
    rows = model.score_choices(prompts, list(reading.labels), batch_size=batch_size)
    probs = read_no_error(model, rows, reading)
    entry = detection_scores(probs, gold, [i.feedback.id for i in scored], predicted=predicted,
                             generated=[o[0] for o in outs], bins=bins, bootstrap=bootstrap,
                             bootstrap_seed=bootstrap_seed)
    out = {"model": model.name, "mode": "icl" if icl else "finetuned", "n": len(scored),
           "task": task, "shots": [s.feedback.id for s in shots],
           "shots_source": f"{task} train feedback" if icl else None,
           "reading": reading.as_dict(), **entry}
    if icl and content_free:
        out["_label_logps"] = rows  # for the content-free baseline (popped by the runner)
        cf_prompts = [detection_prompt(x, x, shots) for x in CONTENT_FREE_INPUTS]
        out["_content_free_logps"] = model.score_choices(cf_prompts, list(LABELS),
                                                         batch_size=batch_size)
    return out


def critic_prompts(model: Scorer, pairs: list[tuple[str, str]]) -> list[str]:
    """The error-types prompt of each (question, chain), the chain in the order the critic
    was trained on."""
    order = getattr(model, "chain_order", None)
    return [error_types_prompt(question, chain, order) for question, chain in pairs]


def detection_scores(probs: list[float], gold: list[bool], ids: list[str], *,
                     predicted: list[bool | None] | None = None,
                     generated: list[str] | None = None, bins: int = 10,
                     bootstrap: int = DEFAULT_B, bootstrap_seed: int = 0) -> dict[str, Any]:
    """Table 2's numbers for one scorer of the detection records: its P(no error) per record
    (``probs``) against the annotators (``gold``: no error). ``predicted``: the label it
    wrote, read (None: unreadable), for the paper's accuracy; a scorer that writes no label
    (a baseline) has accuracy None. Every other number comes from ``probs``."""
    if not probs:
        raise ValueError("no detection records scored")
    entry: dict[str, Any] = {"accuracy": None, "accuracy_ci": None, "unreadable": None}
    if predicted is not None:
        hits = [p is not None and p == g for p, g in zip(predicted, gold, strict=True)]
        acc_lo, acc_hi = bootstrap_mean_ci(hits, bootstrap, bootstrap_seed)
        entry = {"accuracy": detection_accuracy(predicted, gold), "accuracy_ci": [acc_lo, acc_hi],
                 "unreadable": sum(p is None for p in predicted)}
    auroc_ci = bootstrap_auroc_ci(probs, gold, bootstrap, bootstrap_seed)
    share = sum(gold) / len(gold)
    p_half = detection_accuracy([p >= 0.5 for p in probs], gold)
    return {
        **entry,
        "accuracy_p_ge_half": p_half,
        # always answering the larger class; the accuracy at P >= 0.5 may be exactly this
        "majority": max(share, 1 - share),
        "mean_p_no_error": sum(probs) / len(probs),
        "auroc": auroc(probs, gold),
        "auroc_ci": [auroc_ci["lo"], auroc_ci["hi"]],
        "auroc_ci_undefined_resamples": auroc_ci["undefined"],
        "bootstrap": {"b": bootstrap, "seed": bootstrap_seed, "method": "percentile"},
        "ece": expected_calibration_error(probs, gold, bins),
        "bins": reliability_bins(probs, gold, bins),
        "gold_no_error_share": share,
        "records": [{"feedback_id": i, **({"generated": t} if generated else {}),
                     **({"predicted_no_error": p} if predicted is not None else {}),
                     "p_no_error": pr, "gold_no_error": g}
                    for i, t, p, pr, g in zip(ids, generated or [None] * len(ids),
                                              predicted or [None] * len(ids), probs, gold,
                                              strict=True)],
    }
