"""Multitask recipe: one model learns to answer, to name a chain's errors and to describe them.

Each feedback record gives three pairs (:func:`multitask_pairs`, below); each optimizer step
trains one term, the steps shared out by ``data.term_weights``, so each term's share of the
gradient over an epoch is its weight's share. The loop itself is training/recipe/loop.py,
shared with the refine recipe.

    accelerate launch -m training.recipe.multitask --config configs/multitask/tiny.yaml \
        --model /tmp/tiny --out runs/mt
    rhf train --objective multitask --model /tmp/tiny --out runs/mt [--resume] [lr=1e-4 ...]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from feedback_data.records.consistency import check_policy, contradicts_gold
from feedback_data.records.schema import FeedbackItem
from feedback_data.text.chain_format import reorder_chain
from feedback_data.text.instructions import (
    answer_prompt,
    description_prompt,
    description_text,
    error_types_prompt,
    error_types_text,
)
from training.data.critic_pairs import (
    CRITIC_TERM,
    critic_pairs,
    critic_val_items,
    sports_of_vocab,
)
from training.data.examples import MULTITASK_TERMS, REFINE_TERM, Pair, check_weights
from training.recipe import loop
from training.run.config import DataConfig, RecipeConfig

OBJECTIVE = "multitask"
# The terms a contradicting correction is a target of.
CORRECTION_TERMS = frozenset({"answer", REFINE_TERM})


def term_pairs(item: FeedbackItem, order: str = "answer_first") -> dict[str, Pair]:
    """The three multitask pairs of one feedback record, keyed by term, chains in ``order``."""
    q, fb = item.example.question, item.feedback
    chain = reorder_chain(item.chain.text, order)
    return {
        "answer": Pair(answer_prompt(q), reorder_chain(fb.correction.text, order), "answer",
                       fb.id),
        "error_types": Pair(error_types_prompt(q, chain), error_types_text(fb.error_types),
                            "error_types", fb.id),
        "description": Pair(description_prompt(q, chain),
                            description_text(fb.reasons, fb.error_types), "description", fb.id),
    }


def multitask_pairs(items: Sequence[FeedbackItem], weights: Mapping[str, float] | None = None,
                    order: str = "answer_first", contradicting: str = "drop") -> list[Pair]:
    """Every record's pair for each term with a positive weight (all three by default), in
    record order; under ``contradicting="drop"`` no answer pair for a correction that
    contradicts the gold answer. Each term's share of the training steps is the sampler's
    (``data.term_weights``), not the number of pairs here.
    """
    check_policy(contradicting)
    weights = dict.fromkeys(MULTITASK_TERMS, 1.0) if weights is None else weights
    check_weights(weights)
    terms = [t for t in MULTITASK_TERMS if weights.get(t, 0.0) > 0]
    out: list[Pair] = []
    for item in items:
        drop = contradicting == "drop" and contradicts_gold(item)
        pairs = term_pairs(item, order)
        out += [pairs[t] for t in terms if not (drop and t in CORRECTION_TERMS)]
    return out


def critic_configured(d: DataConfig) -> bool:
    """Whether the critic's data options (data.critic_*) change the error-types pairs."""
    return bool(d.critic_corrections or any(d.critic_augment.values())
                or d.critic_balance != "none")


def train(cfg: RecipeConfig) -> Path:
    """Run the recipe; returns the ``final/`` folder (loadable with ``from_pretrained``).

    With the critic's data options on (:func:`critic_configured`) the error-types term's
    pairs are :func:`training.data.critic_pairs.critic_pairs` (corrections, counterfactual
    edits, balance) and validation adds synthetic records from the held-out corrections."""
    d, seed = cfg.data, cfg.train.seed
    counts: dict[str, Any] = {}
    critic = critic_configured(d)

    def train_pairs(items: Sequence[FeedbackItem]) -> list[Pair]:
        pairs = multitask_pairs(items, d.term_weights, d.chain_order,
                                d.contradicting_corrections)
        if not critic or d.term_weights.get(CRITIC_TERM, 0.0) <= 0:
            return pairs
        made, counted = critic_pairs(items, corrections=d.critic_corrections,
                                     augment_shares=d.critic_augment,
                                     balance=d.critic_balance, order=d.chain_order,
                                     seed=seed, vocab_sports=sports_of_vocab(d.tasks))
        counts.update(counted.as_dict())
        return [p for p in pairs if p.term != CRITIC_TERM] + made

    return loop.train(cfg, loop.Objective(
        name=OBJECTIVE,
        train_pairs=train_pairs,
        # every term, so the held-out loss of each is logged
        eval_pairs=lambda items: multitask_pairs(items, None, d.chain_order,
                                                 d.contradicting_corrections),
        terms=MULTITASK_TERMS, counts=counts,
        val_extra=(lambda items: critic_val_items(items, seed, sports_of_vocab(d.tasks)))
        if critic else None))


def main(argv: list[str] | None = None) -> None:
    """``python -m training.recipe.multitask --config YAML [overrides]`` (also under accelerate)."""
    loop.main(OBJECTIVE, train, argv)


if __name__ == "__main__":
    main()
