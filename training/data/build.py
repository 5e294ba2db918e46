"""The recipes' data: feedback records from the configured sources -> train / held-out pairs,
and the validation questions and records (:mod:`feedback_data.sources.splits` holds the rules).

Records are split by question: the Sports detection set is never trained on (with
``data.holdout_detection``), the validation split (``data.eval_fraction`` of the rest) gives
the held-out loss pairs, the validation questions and the detection records validation
scores; the rest is trained on. Replay pairs (``data.replay``) join the training pairs under
their own term.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from feedback_data.errors import DataError
from feedback_data.records.consistency import contradicts_gold
from feedback_data.records.jsonl import read_records
from feedback_data.records.schema import PAPER_TASKS, Example, FeedbackItem, FeedbackSource
from feedback_data.sources.splits import is_held_out, is_sports_detection, validation_examples
from training.data.examples import Pair, filter_consistent, load_pairs
from training.run.config import ConfigError, DataConfig


@dataclass
class TrainingData:
    """Pairs to train and evaluate on, validation questions and records, and the counts
    that go into run.json."""

    train: list[Pair]
    eval: list[Pair]
    counts: dict[str, Any] = field(default_factory=dict)
    val_examples: list[Example] = field(default_factory=list)
    val_items: list[FeedbackItem] = field(default_factory=list)


def load_items(cfg: DataConfig) -> tuple[list[FeedbackItem], int]:
    """Paper feedback for ``cfg.tasks`` plus the records of the extra FeedbackItem files, in
    that order, and how many older versions were left out: an extra file may be a feedback
    store holding every version of an edited annotation, and only the latest version of each
    (over all the extra files, :func:`feedback_data.records.store.latest_versions`) is used."""
    from feedback_data.records.store import latest_versions
    from feedback_data.sources.paper_import import load_paper_feedback

    items: list[FeedbackItem] = []
    extra: list[FeedbackItem] = []
    for task in cfg.tasks:
        if task not in PAPER_TASKS:
            raise ConfigError(f"data.tasks: no paper feedback for task '{task}' (known: "
                              f"{list(PAPER_TASKS)}); feedback on your own task goes in "
                              "data.extra_feedback (e.g. `rhf annotate pull` output)")
        items.extend(load_paper_feedback(task, cfg.split))
    for path in cfg.extra_feedback:
        if not Path(path).is_file():
            raise ConfigError(f"data.extra_feedback: {path} not found")
        extra.extend(read_records(path, FeedbackItem))
    latest = latest_versions(extra)
    items.extend(latest)
    if cfg.max_records > 0:
        items = items[: cfg.max_records]
    return items, len(extra) - len(latest)


def _contradicting_counts(cfg: DataConfig, items: Sequence[FeedbackItem]) -> dict[str, Any]:
    by_task = Counter(i.example.task for i in items if contradicts_gold(i))
    n = sum(by_task.values())
    return {"policy": cfg.contradicting_corrections, "records": n,
            "by_task": dict(sorted(by_task.items())),
            "dropped_from": ["answer", "refine"] if cfg.contradicting_corrections == "drop"
            else [], "records_dropped": n if cfg.contradicting_corrections == "drop" else 0}


def build_data(cfg: DataConfig, make_pairs: Callable[[Sequence[FeedbackItem]], list[Pair]],
               eval_pairs: Callable[[Sequence[FeedbackItem]], list[Pair]],
               seed: int, log: Callable[[str], None] = print,
               val_statements: int = 0) -> TrainingData:
    """Load, filter, split by question, and turn records into pairs for one objective."""
    from training.data.replay import replay_pairs

    try:
        items, superseded = load_items(cfg)
        extra_pairs = load_pairs(cfg.pairs_file) if cfg.pairs_file else []
    except DataError as exc:
        raise ConfigError(str(exc)) from None
    if superseded:
        log(f"left out {superseded} older versions of edited annotations in "
            "data.extra_feedback (each annotation's latest version is used)")
    detection = [i for i in items if cfg.holdout_detection and is_sports_detection(i)]
    if detection:
        log(f"left out {len(detection)} records of the Sports detection set "
            "(data.holdout_detection)")
        items = [i for i in items if not (cfg.holdout_detection and is_sports_detection(i))]
    filtered = filter_consistent(items)
    if filtered.left_out:
        log(f"left out {filtered.left_out} of {len(items)} feedback records flagged "
            f"inconsistent: {filtered.left_out_flags}")
    train_items = [i for i in filtered.kept
                   if not is_held_out(i.example.id, cfg.eval_fraction)]
    eval_items = [i for i in filtered.kept if is_held_out(i.example.id, cfg.eval_fraction)]
    train = make_pairs(train_items) if train_items else []
    held = eval_pairs(eval_items) if eval_items else []
    for p in extra_pairs:
        (held if is_held_out(p.source, cfg.eval_fraction) else train).append(p)
    val_examples = validation_examples(filtered.kept, cfg.eval_fraction, val_statements)
    replay = replay_pairs(cfg, exclude={e.id for e in val_examples}) if cfg.replay else []
    train += replay
    if not train:
        raise ConfigError("no training pairs: set data.tasks, data.extra_feedback or "
                          "data.pairs_file")
    contradicting = _contradicting_counts(cfg, train_items)
    if contradicting["records"]:
        log(f"{contradicting['records']} training corrections contradict the gold answer: "
            + ("no answer or refine target" if cfg.contradicting_corrections == "drop"
               else "trained on as they are") + " (data.contradicting_corrections)")
    random.Random(seed).shuffle(held)
    held = held[: cfg.eval_max]
    label_words = None
    if cfg.critic_label_words:
        from training.data.critic_pairs import with_label_words

        try:
            train, n_words = with_label_words(train, cfg.critic_label_words)
            held, _ = with_label_words(held, cfg.critic_label_words)
        except ValueError as exc:
            raise ConfigError(f"data.critic_label_words: {exc}") from None
        label_words = {"words": list(cfg.critic_label_words), "pairs_train": n_words}
    by_source = Counter(i.feedback.source for i in filtered.kept)
    counts = {
        "records_total": len(items) + len(detection), "records_left_out": filtered.left_out,
        "records_superseded": superseded,
        "left_out_flags": filtered.left_out_flags, "records_train": len(train_items),
        "records_eval": len(eval_items), "records_detection_held_out": len(detection),
        "pairs_file_pairs": len(extra_pairs), "replay_pairs": len(replay),
        "pairs_train": len(train), "pairs_eval": len(held),
        "pairs_train_by_term": dict(sorted(Counter(p.term for p in train).items())),
        "contradicting_corrections": contradicting,
        "validation": {"questions": len(val_examples),
                       "questions_by_task": dict(sorted(Counter(
                           e.task for e in val_examples).items())),
                       "statements": sum(bool(e.meta.get("synthetic")) for e in val_examples),
                       "records": len(eval_items)},
        "chain_order": cfg.chain_order,
        # the critic's targets as single-token label words (data.critic_label_words)
        **({"critic_label_words": label_words} if label_words else {}),
        # The records used (train + held out), by who gave the feedback (the model card's).
        "sources": {s: by_source.get(s, 0) for s in get_args(FeedbackSource)},
    }
    return TrainingData(train, held, counts, val_examples, eval_items)
