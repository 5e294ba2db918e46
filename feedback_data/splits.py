"""Dev and calibration splits.

A task's dev set is the BIG-bench examples whose normalised question appears in none of the
paper's feedback files (train and eval), without duplicates. The calibration set is the
paper's ``strategyqa/eval.jsonl``.
"""

from __future__ import annotations

from feedback_data.bigbench import load_bigbench, normalize_question
from feedback_data.schema import Example, FeedbackItem
from feedback_data.store import PAPER_SPLITS, load_paper_feedback


def feedback_question_keys(task: str) -> set[str]:
    keys = set()
    for t, split in PAPER_SPLITS:
        if t == task:
            keys |= {normalize_question(task, i.example.question)
                     for i in load_paper_feedback(t, split)}
    return keys


def dev_examples(task: str) -> list[Example]:
    """BIG-bench examples of ``task`` not in any feedback file, first occurrence kept."""
    excluded = feedback_question_keys(task)
    seen: set[str] = set()
    out = []
    for ex in load_bigbench(task):
        key = normalize_question(task, ex.question)
        if key in excluded or key in seen:
            continue
        seen.add(key)
        out.append(ex)
    return out


def calibration_items() -> list[FeedbackItem]:
    return load_paper_feedback("strategyqa", "eval")
