"""Critic recipe: a model that only judges chains, trained apart from the answerer.

(question, chain) -> its error types ("no error" when there is none), from the annotators'
labels on the model chains, the gold-consistent human corrections as "no error" chains
(``data.critic_corrections``) and counterfactual edits of them (``data.critic_augment``),
balanced by ``data.critic_balance`` (:mod:`training.data.critic_training_pairs`); with
``data.critic_descriptions`` also the error descriptions (the multitask ``description``
term). Validation (:func:`training.recipe.validation.validate_critic`): detection AUROC on
the held-out records plus synthetic records made from their corrections (``val/auroc_all``);
no answers are generated. At the end the label scoring and a temperature are fitted on
validation and stored as ``final/critic.json``.

Everything the objective is, is its entry in training/recipe/objectives.py; the loop is
training/recipe/loop.py, shared with the other objectives (:mod:`training.recipe.run_objective`).

    rhf train --objective critic --config configs/critic/demo.yaml --model models/tiny-base \
        --out runs/critic
"""

from __future__ import annotations

from pathlib import Path

from training.recipe import run_objective
from training.run.config import RecipeConfig

OBJECTIVE = "critic"


def train(cfg: RecipeConfig) -> Path:
    """Run the recipe; returns the ``final/`` folder (loadable with ``from_pretrained``)."""
    return run_objective.train(cfg, OBJECTIVE)


def main(argv: list[str] | None = None) -> None:
    """``python -m training.recipe.critic --config YAML [overrides]`` (also under accelerate)."""
    run_objective.main(OBJECTIVE, argv)


if __name__ == "__main__":
    main()
