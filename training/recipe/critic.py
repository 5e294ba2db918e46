"""Critic recipe: a model that only judges chains, trained apart from the answerer.

(question, chain) -> its error types ("no error" when there is none), from the annotators'
labels on the model chains, the gold-consistent human corrections as "no error" chains
(``data.critic_corrections``) and counterfactual edits of them (``data.critic_augment``),
balanced by ``data.critic_balance`` (:mod:`training.data.critic_pairs`); with
``data.critic_descriptions`` also the error descriptions (the multitask ``description``
term). Validation: detection AUROC on the held-out records plus synthetic records made from
their corrections (``val/auroc_all``); no answers are generated. At the end the label scoring
and a temperature are fitted on validation and stored as ``final/critic.json``.

    rhf train --objective critic --config configs/critic/demo.yaml --model models/tiny-base \
        --out runs/critic
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from feedback_data.records.schema import FeedbackItem
from training.data.critic_pairs import (
    CRITIC_TERM,
    critic_pairs,
    critic_val_items,
    sports_of_vocab,
)
from training.data.examples import Pair
from training.recipe import loop
from training.recipe.multitask import term_pairs
from training.run.config import DataConfig, RecipeConfig

OBJECTIVE = "critic"
TERMS = (CRITIC_TERM, "description")


def critic_training_pairs(items: Sequence[FeedbackItem], d: DataConfig, seed: int,
                          counts: dict[str, Any] | None = None) -> list[Pair]:
    """The critic's pairs of training ``items`` (and descriptions when configured);
    ``counts`` receives what :func:`training.data.critic_pairs.critic_pairs` counted."""
    pairs, counted = critic_pairs(items, corrections=d.critic_corrections,
                                  augment_shares=d.critic_augment, balance=d.critic_balance,
                                  order=d.chain_order, seed=seed,
                                  vocab_sports=sports_of_vocab(d.tasks))
    if counts is not None:
        counts.update(counted.as_dict())
    if d.critic_descriptions and d.term_weights.get("description", 0.0) > 0:
        pairs += [term_pairs(i, d.chain_order)["description"] for i in items]
    return pairs


def train(cfg: RecipeConfig) -> Path:
    """Run the recipe; returns the ``final/`` folder (loadable with ``from_pretrained``)."""
    d, seed = cfg.data, cfg.train.seed
    counts: dict[str, Any] = {}

    def eval_pairs(items: Sequence[FeedbackItem]) -> list[Pair]:
        out = [term_pairs(i, d.chain_order)[CRITIC_TERM] for i in items]
        if d.critic_descriptions:
            out += [term_pairs(i, d.chain_order)["description"] for i in items]
        return out

    return loop.train(cfg, loop.Objective(
        name=OBJECTIVE,
        train_pairs=lambda items: critic_training_pairs(items, d, seed, counts),
        eval_pairs=eval_pairs, terms=TERMS, counts=counts,
        val_extra=lambda items: critic_val_items(items, seed, sports_of_vocab(d.tasks))))


def main(argv: list[str] | None = None) -> None:
    """``python -m training.recipe.critic --config YAML [overrides]`` (also under accelerate)."""
    loop.main(OBJECTIVE, train, argv)


if __name__ == "__main__":
    main()
