"""The recipes' data: feedback records from the configured sources -> train / held-out pairs."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feedback_data.jsonl import DataError, read_records
from feedback_data.schema import TASKS, FeedbackItem, stable_id
from training.config import ConfigError, DataConfig
from training.examples import Pair, filter_consistent, load_pairs


@dataclass
class TrainingData:
    """Pairs to train and evaluate on, and the counts that go into run.json."""

    train: list[Pair]
    eval: list[Pair]
    counts: dict[str, Any] = field(default_factory=dict)


def load_items(cfg: DataConfig) -> list[FeedbackItem]:
    """Paper feedback for ``cfg.tasks`` plus every extra FeedbackItem file, in that order."""
    from feedback_data.store import load_paper_feedback

    items: list[FeedbackItem] = []
    for task in cfg.tasks:
        if task not in TASKS:
            raise ConfigError(f"data.tasks: no paper feedback for task '{task}' (known: "
                              f"{list(TASKS)}); feedback on your own task goes in "
                              "data.extra_feedback (e.g. `rhf annotate pull` output)")
        items.extend(load_paper_feedback(task, cfg.split))
    for path in cfg.extra_feedback:
        if not Path(path).is_file():
            raise ConfigError(f"data.extra_feedback: {path} not found")
        items.extend(read_records(path, FeedbackItem))
    if cfg.max_records > 0:
        items = items[: cfg.max_records]
    return items


def is_held_out(key: str, fraction: float) -> bool:
    """Deterministic split by a record's key: the same question is always on the same side."""
    return int(stable_id(key, n=8), 16) % 10_000 < fraction * 10_000


def build_data(cfg: DataConfig, make_pairs: Callable[[Sequence[FeedbackItem]], list[Pair]],
               eval_pairs: Callable[[Sequence[FeedbackItem]], list[Pair]],
               seed: int, log: Callable[[str], None] = print) -> TrainingData:
    """Load, filter, split by question, and turn records into pairs for one objective."""
    try:
        items = load_items(cfg)
        extra_pairs = load_pairs(cfg.pairs_file) if cfg.pairs_file else []
    except DataError as exc:
        raise ConfigError(str(exc)) from None
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
    if not train:
        raise ConfigError("no training pairs: set data.tasks, data.extra_feedback or "
                          "data.pairs_file")
    random.Random(seed).shuffle(held)
    held = held[: cfg.eval_max]
    counts = {
        "records_total": len(items), "records_left_out": filtered.left_out,
        "left_out_flags": filtered.left_out_flags, "records_train": len(train_items),
        "records_eval": len(eval_items), "pairs_file_pairs": len(extra_pairs),
        "pairs_train": len(train), "pairs_eval": len(held),
        "pairs_train_by_term": dict(sorted(Counter(p.term for p in train).items())),
    }
    return TrainingData(train, held, counts)
