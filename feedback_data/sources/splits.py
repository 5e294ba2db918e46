"""Dev, detection and validation splits: every question on exactly one side, by rule.

- **Dev** (accuracy, reported once): a task's BIG-bench examples whose normalised question
  appears in none of the paper's feedback files (train and eval), without duplicates.
- **Detection** (Table 2, reported once): the paper's ``strategyqa/eval.jsonl`` (173
  records), and the Sports detection set: the paper's Sports feedback records whose question
  hashes into the first :data:`SPORTS_DETECTION_SHARE` (20%) of
  :func:`question_fraction` with the salt ``"detection"``, about 160 records. Training on
  the paper's feedback leaves these out (``data.holdout_detection``, default on).
- **Validation** (model and recipe choice, never the dev sets): the training feedback
  records whose example id falls under ``data.eval_fraction`` (:func:`is_held_out`), plus,
  for Sports, :func:`sports_validation_statements`: new statements built from vocab.json that
  are in no dev or feedback set and not among the tiny base's pre-training statements.
"""

from __future__ import annotations

from functools import lru_cache

from feedback_data.records.schema import Example, FeedbackItem, stable_id
from feedback_data.sources.bigbench import load_bigbench, normalize_question
from feedback_data.sources.paper_import import PAPER_SPLITS, load_paper_feedback

SPORTS = "sports_understanding"
# Share of the paper's Sports feedback held out, by question, as the Sports detection set.
SPORTS_DETECTION_SHARE = 0.2
DETECTION_SALT = "detection"
# Validation statements: their number and seed, and the base's pre-training statements they
# avoid (training.recipe.pretrain.PretrainConfig's synthetic_sports and seed for the shipped base).
VALIDATION_STATEMENTS = 200
VALIDATION_SEED = 7919
PRETRAIN_STATEMENTS = (40000, 0)


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


def question_fraction(task: str, question: str, salt: str) -> float:
    """A question's fixed place in [0, 1): the same question always lands in the same place."""
    key = normalize_question(task, question)
    return int(stable_id(salt, key, n=8), 16) / 16**8


def is_held_out(key: str, fraction: float) -> bool:
    """Deterministic split by a record's key (its example id, so by question): the same
    question is always on the same side."""
    return int(stable_id(key, n=8), 16) % 10_000 < fraction * 10_000


def is_sports_detection(item: FeedbackItem) -> bool:
    """True for a paper Sports record of the Sports detection set (never trained on)."""
    ex = item.example
    return (ex.task == SPORTS and item.feedback.source == "imported"
            and question_fraction(ex.task, ex.question, DETECTION_SALT) < SPORTS_DETECTION_SHARE)


def sports_detection_items() -> list[FeedbackItem]:
    """The Sports detection set: about 160 of the paper's 796 Sports records."""
    return [i for i in load_paper_feedback(SPORTS, "train") if is_sports_detection(i)]


def detection_sets() -> dict[str, list[FeedbackItem]]:
    """Error-detection sets by task: the paper's 173 StrategyQA records, the Sports share."""
    return {"strategyqa": calibration_items(), SPORTS: sports_detection_items()}


@lru_cache(maxsize=2)
def sports_validation_statements(n: int = VALIDATION_STATEMENTS) -> tuple[Example, ...]:
    """``n`` new Sports statements for validation: in no dev set, no feedback file, and not
    among the shipped base's pre-training statements."""
    from feedback_data.sources.sports_statements import synthetic_sports_examples

    exclude = feedback_question_keys(SPORTS) | {
        normalize_question(SPORTS, e.question) for e in dev_examples(SPORTS)}
    count, seed = PRETRAIN_STATEMENTS
    exclude |= {normalize_question(SPORTS, e.question)
                for e in synthetic_sports_examples(count, seed=seed, exclude=exclude)}
    made = synthetic_sports_examples(n, seed=VALIDATION_SEED, exclude=exclude)
    return tuple(e.model_copy(update={"meta": {**e.meta, "split": "validation"}}) for e in made)


def validation_examples(items: list[FeedbackItem], fraction: float,
                        statements: int = VALIDATION_STATEMENTS) -> list[Example]:
    """The validation questions: each held-out record's question once (gold answer from the
    source data), then, when Sports is among them, ``statements`` new Sports statements.
    A ``fraction`` of 0 means no validation split: no questions."""
    if fraction <= 0:
        return []
    seen: set[str] = set()
    out: list[Example] = []
    for item in items:
        ex = item.example
        if not is_held_out(ex.id, fraction) or is_sports_detection(item) or ex.id in seen:
            continue
        seen.add(ex.id)
        out.append(ex)
    if statements and any(i.example.task == SPORTS for i in items):
        out += list(sports_validation_statements(statements))
    return out
