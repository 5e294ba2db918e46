"""The critic as three signals combined: what it learned from the annotators' labels, whether
the chain's claims agree with what the answering model knows, and whether its answer does.

- ``learned``: the fine-tuned critic's P(no error) (:func:`eval.calibration.critic_probabilities`),
  as its logit.
- ``verification`` (after Chain-of-Verification, Dhuliawala et al., 2023): the verifier (the
  answering model) writes its own chains for the record's question, 0-shot CoT, greedy plus
  ``samples`` sampled ones, never seeing the chain under review; the task's claim reader
  (:mod:`feedback_data.text.claims`, named in the task spec) scores how far the chain's
  claims agree with them.
- ``agreement``: the share of those verifier chains whose answer is the chain's answer.

A logistic regression over the three (standardised, L2-penalised, one per task) is fitted on
the critic's validation records (``critic_validation.json``: the real held-out chains, never a
dev or detection record) and stored in the checkpoint's ``critic.json`` under ``combiner``;
``rhf eval`` then scores Table 2 with it (:func:`combined_probabilities`), beside each signal
alone. ``rhf eval fit-critic CHECKPOINT --verifier MODEL`` fits it; ``rhf demo`` does so after
training.

The fit and the apply compute the features by the same functions; the logistic regression is
a pure function tested by hand (tests/eval/test_critic_combiner.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from feedback_data.files.io import write_text
from feedback_data.records.schema import Example, FeedbackItem

COMBINER_KEY = "combiner"
FEATURES: tuple[str, ...] = ("learned", "verification", "agreement")
# The features the shipped combiner uses, with L2 and the verifier's samples below: chosen on
# validation by scripts/sweep_combiner.py (docs/learning.md, "The combined critic").
DEFAULT_FEATURES: tuple[str, ...] = FEATURES
VALIDATION_FILE = "critic_validation.json"
# The combiner's L2 penalty (on the standardised weights, not the bias; 10 was chosen on
# validation over 0.1 and 1) and the clip of the learned P before its logit.
L2 = 10.0
P_CLIP = 1e-6


@dataclass(frozen=True)
class VerifierSettings:
    """How the verifier writes its chains (stored with the combiner, reused to apply it)."""

    model: str
    samples: int = 0  # sampled chains beside the greedy one (0: the greedy chain alone)
    temperature: float = 0.7
    seed: int = 0
    max_new_tokens: int = 96


# --- the logistic regression (pure) ---------------------------------------------------------

def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


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


def predict_logistic(model: dict[str, Any], row: Sequence[float]) -> float:
    """P(label) of one row under a :func:`fit_logistic` model."""
    z = model["bias"] + sum(w * (v - m) / s for w, v, m, s in
                            zip(model["weights"], row, model["mean"], model["std"], strict=True))
    return _sigmoid(z)


def feature_row(learned: float, verification: float, agreement: float) -> list[float]:
    """The combiner's features: the learned P as its logit (clipped), then the two scores.

    >>> feature_row(0.5, 0.25, 1.0)
    [0.0, 0.25, 1.0]
    """
    p = min(max(learned, P_CLIP), 1 - P_CLIP)
    return [math.log(p / (1 - p)), verification, agreement]


def select(row: Sequence[float], features: Sequence[str]) -> list[float]:
    """The named features of a :func:`feature_row` (in :data:`FEATURES` order).

    >>> select([0.0, 0.25, 1.0], ["verification", "agreement"])
    [0.25, 1.0]
    """
    unknown = [f for f in features if f not in FEATURES]
    if unknown or not features:
        raise ValueError(f"combiner features must be some of {', '.join(FEATURES)}, got "
                         f"{list(features)}")
    return [row[FEATURES.index(f)] for f in features]


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


# --- the signals (model calls) ---------------------------------------------------------------

def verifier_chains(verifier: Any, examples: Sequence[Example], settings: VerifierSettings,
                    batch_size: int | None = None) -> dict[str, list[str]]:
    """The verifier's own chains for each question: greedy, then ``samples`` sampled
    (seeded), from the 0-shot CoT prompt. Keyed by question."""
    from feedback_data.tasks.prompts import cot_prompt

    questions = list(dict.fromkeys((ex.task, ex.question) for ex in examples))
    prompts = [cot_prompt(t, q, []) for t, q in questions]
    greedy = verifier.generate(prompts, max_new_tokens=settings.max_new_tokens,
                               batch_size=batch_size, desc="verifier chains (greedy)")
    sampled: list[list[str]] = [[] for _ in prompts]
    if settings.samples:
        sampled = verifier.generate(
            prompts, do_sample=True, temperature=settings.temperature,
            num_return_sequences=settings.samples, max_new_tokens=settings.max_new_tokens,
            seed=settings.seed, batch_size=batch_size, desc="verifier chains (sampled)")
    return {q: [g[0], *s] for (_, q), g, s in zip(questions, greedy, sampled, strict=True)}


# A chain to judge: the example it answers, its text and its answer (None: unreadable).
Judged = tuple[Example, str, "str | None"]


def as_judged(items: Sequence[FeedbackItem]) -> list[Judged]:
    return [(i.example, i.chain.text, i.chain.answer) for i in items]


def signals(judged: Sequence[Judged], chains: dict[str, list[str]]
            ) -> list[tuple[float, float]]:
    """(verification, agreement) of each chain against the verifier chains of its
    question."""
    from eval.detection_baselines import agreement_score
    from feedback_data.tasks.registry import get_task
    from feedback_data.text.answers import answers_match, parse_answer_chain
    from feedback_data.text.claims import verification_score

    out = []
    for ex, text, answer in judged:
        theirs = chains[ex.question]
        reader = get_task(ex.task).claims
        answers = [parse_answer_chain(t, ex)[0] for t in theirs]
        out.append((verification_score(reader, ex.question, text, theirs),
                    agreement_score(answer, answers,
                                    same=lambda a, b, e=ex: answers_match(e, a, b))))
    return out


def feature_rows(critic: Any, verifier: Any, judged: Sequence[Judged],
                 settings: VerifierSettings, batch_size: int | None = None
                 ) -> list[list[float]]:
    """The combiner's feature row (:func:`feature_row`) of each chain."""
    from eval.calibration import critic_probabilities

    learned = critic_probabilities(critic, [(ex.question, text) for ex, text, _ in judged],
                                   batch_size)
    sig = signals(judged, verifier_chains(verifier, [j[0] for j in judged], settings,
                                          batch_size))
    return [feature_row(p, v, a) for p, (v, a) in zip(learned, sig, strict=True)]


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


def fit_combiner(folder: str | Path, critic: Any, verifier: Any, settings: VerifierSettings,
                 batch_size: int | None = None, log: Callable[[str], None] = print,
                 features: Sequence[str] = DEFAULT_FEATURES, l2: float = L2
                 ) -> dict[str, Any]:
    """Fit one combiner per task over ``features`` on ``folder``'s validation records and
    store it in the folder's ``critic.json`` (atomically, beside the scoring and
    temperature). Returns it, with each signal's validation AUROC alone and the
    combination's, cross-fitted."""
    from feedback_data.text.critic_labels import READING_FILE
    from training.run.checkpoint import MANIFEST_FILE, update_manifest

    items = validation_items(folder)
    log(f"[critic] fitting the combiner on {len(items)} validation records of {folder}; "
        f"verifier {settings.model}")
    rows = feature_rows(critic, verifier, as_judged(items), settings, batch_size)
    tasks: dict[str, Any] = {}
    for task in sorted({i.example.task for i in items}):
        idx = [n for n, i in enumerate(items) if i.example.task == task]
        x = [rows[n] for n in idx]
        y = [not items[n].feedback.error_types for n in idx]
        if len(set(y)) < 2 or min(sum(y), len(y) - sum(y)) < 4:
            log(f"[critic] {task}: {sum(y)} of {len(y)} without error: too few of a class "
                "to fit; the learned critic is used alone")
            continue
        alone = {f: _auroc([r[k] for r in x], y) for k, f in enumerate(FEATURES)}
        x = [select(r, features) for r in x]
        crossed = _auroc(cross_fitted(x, y, l2=l2), y)
        tasks[task] = {**fit_logistic(x, y, l2), "n": len(y), "no_error": sum(y),
                       "validation_auroc": {**alone, "combined_cross_fitted": crossed}}
        log(f"[critic] {task}: validation AUROC " + ", ".join(
            f"{k} {v:.3f}" for k, v in tasks[task]["validation_auroc"].items()
            if v is not None))
    combiner = {"features": list(features), "l2": l2, "verifier": asdict(settings),
                "tasks": tasks}
    path = Path(folder) / READING_FILE
    stored = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    write_text(path, json.dumps({**stored, COMBINER_KEY: combiner}, indent=2) + "\n")
    if (Path(folder) / MANIFEST_FILE).is_file():  # `rhf train verify` still passes
        update_manifest(Path(folder), READING_FILE)
    return combiner


def load_combiner(folder: str | Path) -> dict[str, Any] | None:
    """The combiner stored in a checkpoint's ``critic.json``, or None; one that cannot be
    read is a ValueError naming the file."""
    from dataclasses import fields

    from feedback_data.text.critic_labels import READING_FILE

    path = Path(folder) / READING_FILE
    if not path.is_file():
        return None
    try:
        combiner = json.loads(path.read_text(encoding="utf-8")).get(COMBINER_KEY)
    except (UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
    if combiner is None:
        return None
    known = {f.name for f in fields(VerifierSettings)}
    if not isinstance(combiner, dict) or not {"features", "verifier", "tasks"} <= set(combiner) \
            or not isinstance(combiner["verifier"], dict) \
            or not set(combiner["verifier"]) <= known or "model" not in combiner["verifier"] \
            or any(f not in FEATURES for f in combiner["features"]):
        raise ValueError(f"{path}: '{COMBINER_KEY}' is not a combiner written by "
                         "`rhf eval fit-critic` (features, verifier, tasks); fit it again")
    return combiner


def combined_probabilities(combiner: dict[str, Any], task: str,
                           rows: Sequence[Sequence[float]]) -> list[float] | None:
    """P(no error) of each feature row under the task's combiner; None when the combiner
    has none for ``task``."""
    model = combiner.get("tasks", {}).get(task)
    if model is None:
        return None
    return [predict_logistic(model, select(r, combiner["features"])) for r in rows]
