"""Multitask recipe: one model learns to answer, to name a chain's errors and to describe them.

Each feedback record gives three pairs (see training/examples.py); the batches mix them in
the configured shares, so the loss summed over an epoch is the weighted sum of the three
terms' losses. The loop itself is training/loop.py, shared with the refine recipe.

    accelerate launch -m training.multitask --config configs/multitask/tiny.yaml \
        --model /tmp/tiny --out runs/mt
    rhf train --objective multitask --model /tmp/tiny --out runs/mt [--resume] [lr=1e-4 ...]
"""

from __future__ import annotations

from pathlib import Path

from training import loop
from training.config import RecipeConfig
from training.examples import MULTITASK_TERMS, multitask_pairs

OBJECTIVE = "multitask"


def train(cfg: RecipeConfig) -> Path:
    """Run the recipe; returns the ``final/`` folder (loadable with ``from_pretrained``)."""
    weights, seed = cfg.data.term_weights, cfg.train.seed
    return loop.train(cfg, loop.Objective(
        name=OBJECTIVE,
        train_pairs=lambda items: multitask_pairs(items, weights, seed),
        eval_pairs=lambda items: multitask_pairs(items, None, seed),  # every term, unweighted
        terms=MULTITASK_TERMS))


def main(argv: list[str] | None = None) -> None:
    """``python -m training.multitask --config YAML [overrides]`` (also under accelerate)."""
    loop.main(OBJECTIVE, train, argv)


if __name__ == "__main__":
    main()
