"""Multitask recipe: one model learns to answer, to name a chain's errors and to describe them.

Each feedback record gives three pairs (:func:`training.data.multitask_pairs.term_pairs`);
each optimizer step trains one term, the steps shared out by ``data.term_weights``, so each
term's share of the gradient over an epoch is its weight's share. With the critic's data
options on (:func:`training.data.multitask_pairs.critic_configured`) the error-types term's
pairs are :func:`training.data.critic_pairs.critic_pairs` (corrections, counterfactual edits,
balance) and validation adds synthetic records from the held-out corrections.

Everything the objective is (pairs builder, collator terms, validator
:func:`training.recipe.validation.validate_multitask`: answer accuracy, detection AUROC and
val/score) is its entry in training/recipe/objectives.py; the loop is training/recipe/loop.py,
shared with the other objectives (:mod:`training.recipe.run_objective`).

    accelerate launch -m training.recipe.multitask --config configs/multitask/tiny.yaml \
        --model /tmp/tiny --out runs/mt
    rhf train --objective multitask --model /tmp/tiny --out runs/mt [--resume] [lr=1e-4 ...]
"""

from __future__ import annotations

from pathlib import Path

from training.recipe import run_objective
from training.run.config import RecipeConfig

OBJECTIVE = "multitask"


def train(cfg: RecipeConfig) -> Path:
    """Run the recipe; returns the ``final/`` folder (loadable with ``from_pretrained``)."""
    return run_objective.train(cfg, OBJECTIVE)


def main(argv: list[str] | None = None) -> None:
    """``python -m training.recipe.multitask --config YAML [overrides]`` (also under accelerate)."""
    run_objective.main(OBJECTIVE, argv)


if __name__ == "__main__":
    main()
