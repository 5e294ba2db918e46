"""The critic objective's pairs: (question, chain) -> its error types, and with
``data.critic_descriptions`` the error descriptions too.

The error-types pairs come from :func:`training.data.critic_pairs.critic_pairs` (the
annotators' labels on the model chains, the gold-consistent corrections as "no error" chains,
counterfactual edits of them, balanced by ``data.critic_balance``); the held-out pairs are
each record's own labels. :func:`critic_train_pairs` is the pairs builder the objective
registry names (training/recipe/objectives.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from feedback_data.records.schema import FeedbackItem
from training.data.critic_pairs import (
    CRITIC_COUNTS,
    CRITIC_TERM,
    critic_pairs,
    critic_val_items,
    sports_of_vocab,
)
from training.data.examples import Pair
from training.data.multitask_pairs import term_pairs
from training.run.config import DataConfig, RecipeConfig

CRITIC_TERMS = (CRITIC_TERM, "description")


def critic_training_pairs(items: Sequence[FeedbackItem], d: DataConfig, seed: int,
                          counts: dict[str, Any] | None = None) -> list[Pair]:
    """The critic's pairs of training ``items`` (and descriptions when configured);
    ``counts["critic"]`` receives what :func:`training.data.critic_pairs.critic_pairs`
    counted."""
    pairs, counted = critic_pairs(items, corrections=d.critic_corrections,
                                  augment_shares=d.critic_augment, balance=d.critic_balance,
                                  order=d.chain_order, seed=seed,
                                  vocab_sports=sports_of_vocab(d.tasks))
    if counts is not None:
        counts[CRITIC_COUNTS] = counted.as_dict()
    if d.critic_descriptions and d.term_weights.get("description", 0.0) > 0:
        pairs += [term_pairs(i, d.chain_order)["description"] for i in items]
    return pairs


def critic_train_pairs(cfg: RecipeConfig, items: Sequence[FeedbackItem],
                       counts: dict[str, Any]) -> list[Pair]:
    """:func:`critic_training_pairs` for a config (its data options and seed)."""
    return critic_training_pairs(items, cfg.data, cfg.train.seed, counts)


def critic_eval_pairs(cfg: RecipeConfig, items: Sequence[FeedbackItem]) -> list[Pair]:
    """Each held-out record's error-types pair (and description pair when configured)."""
    d = cfg.data
    out = [term_pairs(i, d.chain_order)[CRITIC_TERM] for i in items]
    if d.critic_descriptions:
        out += [term_pairs(i, d.chain_order)["description"] for i in items]
    return out


def critic_val_extra(cfg: RecipeConfig, items: Sequence[FeedbackItem]) -> list[FeedbackItem]:
    """Synthetic records from the held-out corrections, validated beside the real ones."""
    return critic_val_items(items, cfg.train.seed, sports_of_vocab(cfg.data.tasks))
