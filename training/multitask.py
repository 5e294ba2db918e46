"""Multitask recipe: one model learns to answer, to name a chain's errors and to describe them.

Each feedback record gives three pairs (see training/data/examples.py); each optimizer step
trains one term, the steps shared out by ``data.term_weights``, so each term's share of the
gradient over an epoch is its weight's share. The loop itself is training/loop.py, shared
with the refine recipe.

    accelerate launch -m training.multitask --config configs/multitask/tiny.yaml \
        --model /tmp/tiny --out runs/mt
    rhf train --objective multitask --model /tmp/tiny --out runs/mt [--resume] [lr=1e-4 ...]
"""

from __future__ import annotations

from pathlib import Path

from training import loop
from training.data.examples import MULTITASK_TERMS, multitask_pairs
from training.run.config import RecipeConfig

OBJECTIVE = "multitask"


def train(cfg: RecipeConfig) -> Path:
    """Run the recipe; returns the ``final/`` folder (loadable with ``from_pretrained``)."""
    d = cfg.data
    return loop.train(cfg, loop.Objective(
        name=OBJECTIVE,
        train_pairs=lambda items: multitask_pairs(items, d.term_weights, d.chain_order,
                                                  d.contradicting_corrections),
        # every term, so the held-out loss of each is logged
        eval_pairs=lambda items: multitask_pairs(items, None, d.chain_order,
                                                 d.contradicting_corrections),
        terms=MULTITASK_TERMS))


def main(argv: list[str] | None = None) -> None:
    """``python -m training.multitask --config YAML [overrides]`` (also under accelerate)."""
    loop.main(OBJECTIVE, train, argv)


if __name__ == "__main__":
    main()
