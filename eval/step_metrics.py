"""Finding the first wrong step: ProcessBench's score on records that have step labels.

A label is the 0-based index of a chain's first wrong step, -1 when every step is correct
(the export's step policy, :func:`feedback_data.text.step_policy.first_wrong_step`). A critic
predicts the same index. ProcessBench reports the accuracy on the erroneous chains (the
predicted index is exactly the first wrong step), the accuracy on the correct chains (the
critic says -1), and their harmonic mean (its "F1").

Labels come from the step ratings, the marked error steps or the steps the error
descriptions name (:mod:`feedback_data.text.step_mentions`; the paper's records have only the
descriptions), and the score says how many each source gave. Records without step information
are not scored and are counted, never given invented labels.

The step critic is the multitask model asked the description instruction it was trained on
(p(description | q, m)): its text names the step ("Factual Error: In step 2, ..."), read by
the same parser as the labels; "no error" is -1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from feedback_data.records.schema import FeedbackItem
from feedback_data.text.step_mentions import first_wrong_from_description
from feedback_data.text.step_policy import step_label


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
    label_sources: Counter[str] = field(default_factory=Counter)

    def markdown(self) -> str:
        """One report.md line, its n included."""
        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{100 * x:.1f}"

        line = (f"First wrong step (ProcessBench F1, n={self.n}): {pct(self.f1)} "
                f"(accuracy on erroneous chains {pct(self.error_accuracy)}, n={self.n_error}; "
                f"on correct chains {pct(self.correct_accuracy)}, n={self.n_correct})")
        if self.label_sources:
            line += "; labels from " + ", ".join(
                f"{k}: {v}" for k, v in sorted(self.label_sources.items()))
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


def step_labels(items: Sequence[FeedbackItem]
                ) -> tuple[list[int | None], Counter[str], Counter[str]]:
    """Each record's first-wrong-step label (None where it has no step information), the
    count of records without one by reason (an erroneous record the descriptions could not
    locate: "errors_without_step:<the parser's reason>"), and the labels' sources."""
    labels: list[int | None] = []
    missing: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    for item in items:
        label = step_label(item)
        labels.append(label.first_wrong)
        if label.first_wrong is None:
            why = label.why or "unknown"
            missing[f"{why}:{label.description_why}" if label.description_why else why] += 1
        else:
            sources[label.source or "unknown"] += 1
    return labels, missing, sources


def score_items(items: Sequence[FeedbackItem], predictions: Sequence[int | None]) -> StepScore:
    """ProcessBench's score on the records that have step labels; the others are counted."""
    if len(items) != len(predictions):
        raise ValueError(f"{len(items)} records but {len(predictions)} predictions")
    labels, missing, sources = step_labels(items)
    kept = [(y, p) for y, p in zip(labels, predictions, strict=True) if y is not None]
    score = processbench_score([y for y, _ in kept], [p for _, p in kept])
    score.unscored = missing
    score.label_sources = sources
    if not kept:
        score.note = "no record has step labels: nothing to score"
    return score


def first_wrong_from_scores(step_scores: Sequence[float], threshold: float = 0.5) -> int:
    """A process reward model's per-step P(correct) -> the first step below ``threshold``,
    -1 when none is.

    >>> first_wrong_from_scores([0.9, 0.7, 0.2, 0.8])
    2
    """
    return next((i for i, s in enumerate(step_scores) if s < threshold), -1)


def description_step_critic(gen: Any, items: Sequence[FeedbackItem], *,
                            max_new_tokens: int = 64, batch_size: int | None = None
                            ) -> tuple[StepScore, list[int | None]]:
    """The multitask model as a step critic: asked the description instruction for each
    record's chain, its text gives -1 for "no error", else the first wrong step it names
    (:func:`feedback_data.text.step_mentions.first_wrong_from_description`; None when it names
    no step of the chain or is ambiguous); scored on the records with step labels."""
    from feedback_data.text.instructions import description_prompt

    order = getattr(gen, "chain_order", None)  # the chains as the critic was trained
    outs = gen.generate([description_prompt(i.example.question, i.chain.text, order)
                         for i in items],
                        max_new_tokens=max_new_tokens, batch_size=batch_size,
                        desc="step critic")
    predictions = [first_wrong_from_description(out[0], item.chain.steps)
                   for item, out in zip(items, outs, strict=True)]
    return score_items(items, predictions), predictions
