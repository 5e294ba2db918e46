"""Finding the first wrong step: ProcessBench's score on records that have step labels.

A label is the 0-based index of a chain's first wrong step, -1 when every step is correct
(the export's step policy, :func:`feedback_data.step_policy.first_wrong_step`). A critic
predicts the same index. ProcessBench reports the accuracy on the erroneous chains (the
predicted index is exactly the first wrong step), the accuracy on the correct chains (the
critic says -1), and their harmonic mean (its "F1").

Records without step information are not scored and are counted, never given invented labels;
the paper's calibration records name error types but no steps, so only their error-free chains
get a label there, and the F1 is then undefined (reported as such, with its n).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from feedback_data.schema import FeedbackItem
from feedback_data.step_policy import first_wrong_step

NO_ERROR = "no error"
_STEP_RE = re.compile(r"\bstep\s+(\d+)\b", re.IGNORECASE)


@dataclass
class StepScore:
    """ProcessBench's score with the counts it rests on; None where a part is undefined."""

    n: int
    n_error: int
    n_correct: int
    error_accuracy: float | None
    correct_accuracy: float | None
    f1: float | None
    unscored: Counter[str] = field(default_factory=Counter)
    note: str = ""

    def markdown(self) -> str:
        """One report.md line, its n included."""
        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{100 * x:.1f}"

        line = (f"First wrong step (ProcessBench F1): {pct(self.f1)} "
                f"(accuracy on erroneous chains {pct(self.error_accuracy)}, n={self.n_error}; "
                f"on correct chains {pct(self.correct_accuracy)}, n={self.n_correct})")
        if self.unscored:
            why = ", ".join(f"{k}: {v}" for k, v in sorted(self.unscored.items()))
            line += f"; not scored: {why}"
        return line + (f". {self.note}" if self.note else "")


def processbench_score(labels: Sequence[int], predictions: Sequence[int | None]) -> StepScore:
    """Accuracy on erroneous chains (label >= 0), on correct chains (label -1), and their
    harmonic mean. A prediction None (unreadable) counts as wrong.

    >>> s = processbench_score([2, 0, -1, -1, 1], [2, 1, -1, 0, None])
    >>> s.error_accuracy, s.correct_accuracy, round(s.f1, 4)
    (0.3333333333333333, 0.5, 0.4)
    """
    if len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")
    if any(label < -1 for label in labels):
        raise ValueError("a step label is a 0-based index or -1 (no wrong step)")
    err = [(y, p) for y, p in zip(labels, predictions, strict=True) if y >= 0]
    ok = [(y, p) for y, p in zip(labels, predictions, strict=True) if y == -1]
    err_acc = sum(p == y for y, p in err) / len(err) if err else None
    ok_acc = sum(p == -1 for _, p in ok) / len(ok) if ok else None
    if err_acc is None or ok_acc is None:
        f1 = None
    else:
        f1 = 0.0 if err_acc + ok_acc == 0 else 2 * err_acc * ok_acc / (err_acc + ok_acc)
    note = ""
    if not err:
        note = "no erroneous chain has a step label, so the F1 is undefined"
    elif not ok:
        note = "no correct chain is labelled, so the F1 is undefined"
    return StepScore(len(labels), len(err), len(ok), err_acc, ok_acc, f1, note=note)


def step_labels(items: Sequence[FeedbackItem]) -> tuple[list[int | None], Counter[str]]:
    """Each record's first-wrong-step label (None where it has no step information) and the
    count of records without one, by reason."""
    labels: list[int | None] = []
    missing: Counter[str] = Counter()
    for item in items:
        label, why = first_wrong_step(item)
        labels.append(label)
        if label is None:
            missing[why or "unknown"] += 1
    return labels, missing


def score_items(items: Sequence[FeedbackItem], predictions: Sequence[int | None]) -> StepScore:
    """ProcessBench's score on the records that have step labels; the others are counted."""
    if len(items) != len(predictions):
        raise ValueError(f"{len(items)} records but {len(predictions)} predictions")
    labels, missing = step_labels(items)
    kept = [(y, p) for y, p in zip(labels, predictions, strict=True) if y is not None]
    score = processbench_score([y for y, _ in kept], [p for _, p in kept])
    score.unscored = missing
    if not kept:
        score.note = "no record has step labels: nothing to score"
    return score


def first_wrong_from_text(text: str, n_steps: int) -> int | None:
    """A critic's text -> predicted first wrong step: the smallest "step N" it names (1-based
    in the text, 0-based here), -1 for "no error", None when it says neither or names a step
    the chain does not have.

    >>> first_wrong_from_text("Factual Error: step 3 is wrong, and step 2 too.", 4)
    1
    >>> first_wrong_from_text("no error ; The answer is yes because ...", 2)
    -1
    """
    steps = [int(m) for m in _STEP_RE.findall(text)]
    if steps:
        first = min(steps)
        return first - 1 if 1 <= first <= n_steps else None
    return -1 if NO_ERROR in text.lower() else None


def first_wrong_from_scores(step_scores: Sequence[float], threshold: float = 0.5) -> int:
    """A process reward model's per-step P(correct) -> the first step below ``threshold``,
    -1 when none is.

    >>> first_wrong_from_scores([0.9, 0.7, 0.2, 0.8])
    2
    """
    return next((i for i, s in enumerate(step_scores) if s < threshold), -1)


def refine_step_critic(gen: Any, items: Sequence[FeedbackItem], *, max_new_tokens: int = 64,
                       batch_size: int | None = None) -> tuple[StepScore, list[int | None]]:
    """The refine model as a step critic: its "error types ; correction" output for each
    record's chain gives -1 for "no error", else the first step it names (None when it names
    errors but no step of the chain, or is unreadable); scored on the records with step
    labels."""
    from feedback_data.instructions import parse_refine_output, refine_prompt

    outs = gen.generate([refine_prompt(i.example.question, i.chain.text) for i in items],
                        max_new_tokens=max_new_tokens, batch_size=batch_size,
                        desc="step critic")
    predictions: list[int | None] = []
    for item, out in zip(items, outs, strict=True):
        codes, _ = parse_refine_output(out[0])
        if codes is None:
            predictions.append(None)
        elif not codes:
            predictions.append(-1)
        else:
            step = first_wrong_from_text(out[0], len(item.chain.steps))
            predictions.append(step if step is not None and step >= 0 else None)
    return score_items(items, predictions), predictions
