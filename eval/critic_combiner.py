"""Fitting the combined critic: one logistic regression per task over the learned critic's
P(no error), verification against the answering model's own chains and its answer agreement
(the signals and the apply side: :mod:`inference.combined_critic`).

It is fitted on the critic's validation records (``critic_validation.json``: the real
held-out chains, never a dev or detection record) and stored in the checkpoint's
``critic.json`` under ``combiner``, together with refine's τ for the combined critic, chosen
on the same records' cross-fitted P. ``rhf eval fit-critic CHECKPOINT --verifier MODEL`` fits
it; ``rhf demo`` does so after training. Then every reader of the critic reads it: Table 2,
selective prediction, wsc_soft's weights and refine's threshold rule.

The fit and the apply compute the features by the same functions; the logistic regression is
a pure function tested by hand (tests/eval/test_critic_combiner.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from feedback_data.files.io import write_text
from feedback_data.records.schema import FeedbackItem
from inference.combined_critic import (
    COMBINER_KEY,
    FEATURES,
    VerifierSettings,
    as_judged,
    check_features,
    feature_rows,
    predict_logistic,
    select,
    sigmoid,
)

# The features the shipped combiner uses, with L2 and the verifier's samples below: chosen on
# validation by scripts/sweep_combiner.py (docs/learning.md, "The combined critic"); the
# planned subquestions (FEATURES' fourth) are not among them.
DEFAULT_FEATURES: tuple[str, ...] = ("learned", "verification", "agreement")
VALIDATION_FILE = "critic_validation.json"
# The combiner's L2 penalty (on the standardised weights, not the bias; 10 was chosen on
# validation over 0.1 and 1).
L2 = 10.0


# --- the logistic regression (pure) ---------------------------------------------------------

def fit_logistic(rows: Sequence[Sequence[float]], labels: Sequence[bool], l2: float = L2,
                 iterations: int = 100) -> dict[str, Any]:
    """Logistic regression of ``labels`` on ``rows`` by Newton's method: the features are
    standardised (mean 0, std 1 over ``rows``; a constant feature gets weight 0), the penalty
    ``l2``/2 * |w|^2 spares the bias. Returns {mean, std, weights, bias}.

    >>> m = fit_logistic([[0.0], [1.0], [2.0], [3.0]], [False, False, True, True], l2=0.0,
    ...                  iterations=5)
    >>> round(predict_logistic(m, [1.5]), 6)
    0.5
    """
    import numpy as np

    if len(rows) != len(labels) or not rows:
        raise ValueError(f"{len(rows)} rows but {len(labels)} labels")
    x = np.asarray(rows, dtype=float)
    y = np.asarray(labels, dtype=float)
    mean, std = x.mean(axis=0), x.std(axis=0)
    live = std > 1e-12
    z = np.where(live, (x - mean) / np.where(live, std, 1.0), 0.0)
    design = np.hstack([np.ones((len(z), 1)), z])
    theta = np.zeros(design.shape[1])
    penalty = np.diag([0.0] + [l2] * z.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-design @ theta))
        grad = design.T @ (p - y) + penalty @ theta
        hess = design.T @ (design * (p * (1 - p))[:, None]) + penalty + 1e-9 * np.eye(len(theta))
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    weights = np.where(live, theta[1:], 0.0)
    return {"mean": mean.tolist(), "std": np.where(live, std, 1.0).tolist(),
            "weights": weights.tolist(), "bias": float(theta[0])}


def cross_fitted(rows: Sequence[Sequence[float]], labels: Sequence[bool], folds: int = 2,
                 l2: float = L2) -> list[float]:
    """Each row's P from a model fitted on the other folds: a validation score not measured
    on its own fit. Folds are stratified: the j-th row of each class is in fold j % folds."""
    fold, seen = [], {True: 0, False: 0}
    for y in labels:
        fold.append(seen[bool(y)] % folds)
        seen[bool(y)] += 1
    if min(seen.values()) < folds:
        raise ValueError(f"cross-fitting needs at least {folds} records of each class "
                         f"(got {seen[True]} without error, {seen[False]} with)")
    out = [0.0] * len(rows)
    for k in range(folds):
        train = [i for i in range(len(rows)) if fold[i] != k]
        model = fit_logistic([rows[i] for i in train], [labels[i] for i in train], l2)
        for i in range(len(rows)):
            if fold[i] == k:
                out[i] = predict_logistic(model, rows[i])
    return out


# --- fitting and applying --------------------------------------------------------------------

def validation_items(folder: str | Path) -> list[FeedbackItem]:
    """The real held-out records a critic checkpoint was validated on (its
    ``critic_validation.json``, written at the end of training)."""
    path = Path(folder) / VALIDATION_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no critic validation records (a checkpoint of a run "
                                "that validated its critic has them)")
    data = json.loads(path.read_text(encoding="utf-8"))
    if "items" not in data:
        raise ValueError(f"{path}: no 'items' (written by an older rhf: retrain, or fit on a "
                         "newer checkpoint)")
    return [FeedbackItem.model_validate(x) for x in data["items"]]


def _auroc(scores: Sequence[float], gold: Sequence[bool]) -> float | None:
    from eval.metrics import auroc

    return auroc(list(scores), list(gold))


def refine_tau(held_out: Sequence[float], no_error: Sequence[bool]) -> dict[str, Any] | None:
    """Refine's τ for the combined critic: :func:`eval.metrics.choose_threshold` over the
    validation records' held-out P (cross-fitted); None without both classes.

    >>> refine_tau([0.9, 0.6, 0.4, 0.1], [True, True, False, False])["tau"]
    0.6
    """
    from eval.metrics import choose_threshold

    if not held_out or all(no_error) or not any(no_error):
        return None
    return {**choose_threshold(list(held_out), list(no_error)), "n": len(held_out),
            "no_error_records": sum(bool(y) for y in no_error),
            "chosen_on": f"{len(held_out)} validation records of the critic's run, the "
                         "combined critic's cross-fitted P (best balanced detection accuracy)"}


def fit_combiner(folder: str | Path, critic: Any, verifier: Any, settings: VerifierSettings,
                 batch_size: int | None = None, log: Callable[[str], None] = print,
                 features: Sequence[str] = DEFAULT_FEATURES, l2: float = L2,
                 planner: Any = None) -> dict[str, Any]:
    """Fit one combiner per task over ``features`` on ``folder``'s validation records and
    store it in the folder's ``critic.json`` (atomically, beside the scoring and
    temperature). Returns it, with each signal's validation AUROC alone and the
    combination's, cross-fitted, and refine's τ (:func:`refine_tau`). The ``subquestions``
    feature needs ``planner`` (the loaded model ``settings.planner`` names)."""
    check_features(features)
    if "subquestions" in features and (planner is None or settings.planner is None):
        raise ValueError("the 'subquestions' feature needs a planner: a model trained with "
                         "the multitask subquestions term (--planner MODEL, or self)")
    if planner is not None and "subquestions" not in features:
        planner = None  # nothing reads its questions
    from feedback_data.text.critic_labels import READING_FILE
    from training.run.checkpoint import MANIFEST_FILE, update_manifest

    items = validation_items(folder)
    log(f"[critic] fitting the combiner on {len(items)} validation records of {folder}; "
        f"verifier {settings.model}")
    rows = feature_rows(critic, verifier, as_judged(items), settings, batch_size, planner)
    # each record's P as the combined critic reads it, not measured on its own fit: the
    # cross-fitted combination where its task gets a fit, the learned P elsewhere
    held_out = [sigmoid(r[0]) for r in rows]  # the learned P back from its logit
    tasks: dict[str, Any] = {}
    for task in sorted({i.example.task for i in items}):
        idx = [n for n, i in enumerate(items) if i.example.task == task]
        x = [rows[n] for n in idx]
        y = [not items[n].feedback.error_types for n in idx]
        if len(set(y)) < 2 or min(sum(y), len(y) - sum(y)) < 4:
            log(f"[critic] {task}: {sum(y)} of {len(y)} without error: too few of a class "
                "to fit; the learned critic is used alone")
            continue
        alone = {f: _auroc([r[k] for r in x], y) for k, f in enumerate(FEATURES)
                 if not any(math.isnan(r[k]) for r in x)}
        x = [select(r, features) for r in x]
        crossed_p = cross_fitted(x, y, l2=l2)
        for n, p in zip(idx, crossed_p, strict=True):
            held_out[n] = p
        crossed = _auroc(crossed_p, y)
        tasks[task] = {**fit_logistic(x, y, l2), "n": len(y), "no_error": sum(y),
                       "validation_auroc": {**alone, "combined_cross_fitted": crossed}}
        log(f"[critic] {task}: validation AUROC " + ", ".join(
            f"{k} {v:.3f}" for k, v in tasks[task]["validation_auroc"].items()
            if v is not None))
    stored_settings = settings if planner is not None else replace(settings, planner=None)
    combiner = {"features": list(features), "l2": l2, "verifier": asdict(stored_settings),
                "tasks": tasks,
                "refine_tau": refine_tau(held_out, [not i.feedback.error_types for i in items])}
    if combiner["refine_tau"]:
        log(f"[critic] refine's τ for the combined critic: {combiner['refine_tau']['tau']:.4g} "
            "(cross-fitted validation P, best balanced accuracy)")
    path = Path(folder) / READING_FILE
    stored = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    write_text(path, json.dumps({**stored, COMBINER_KEY: combiner}, indent=2) + "\n")
    if (Path(folder) / MANIFEST_FILE).is_file():  # `rhf train verify` still passes
        update_manifest(Path(folder), READING_FILE)
    return combiner
