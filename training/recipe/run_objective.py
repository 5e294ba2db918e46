"""Any registered objective, run by the shared loop: its registry entry bound to a config.

:func:`train` reads the objective's entry (training/recipe/objectives.py), runs its own
config check, and hands the loop (training/recipe/loop.py) the entry's pairs builders, the
collator's terms and the validator, bound to the config. The recipe modules
(training/recipe/multitask.py, refine.py, critic.py) are this, under their names, for
``python -m`` and ``accelerate launch -m``; an objective without a module of its own runs
here (its entry's default ``module``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from feedback_data.records.schema import FeedbackItem
from training.recipe import loop
from training.recipe.objectives import OBJECTIVE_REGISTRY, Objective
from training.run.config import RecipeConfig


def loop_objective(entry: Objective, cfg: RecipeConfig) -> loop.BoundObjective:
    """What the loop needs of ``entry``, bound to ``cfg`` (the pairs builders fill one
    ``counts`` dict, which run.json keeps)."""
    counts: dict[str, Any] = {}

    def train_pairs(items: Sequence[FeedbackItem]) -> list:
        return entry.train_pairs(cfg, items, counts)

    def eval_pairs(items: Sequence[FeedbackItem]) -> list:
        return entry.held_out_pairs(cfg, items)

    val_extra = entry.val_extra
    return loop.BoundObjective(
        name=entry.name, train_pairs=train_pairs, eval_pairs=eval_pairs, terms=entry.terms,
        validate=entry.validate, counts=counts, validates_answers=entry.validates_answers,
        reads_critic=entry.reads_critic,
        val_extra=(lambda items: val_extra(cfg, items)) if val_extra else None)


def train(cfg: RecipeConfig, objective: str | None = None) -> Path:
    """Run ``objective`` (default: ``cfg.objective``) as configured; returns ``final/``."""
    entry = OBJECTIVE_REGISTRY.get(objective or cfg.objective)
    if entry.check is not None:
        entry.check(cfg)
    return loop.train(cfg, loop_objective(entry, cfg))


def main(objective: str, argv: list[str] | None = None) -> None:
    """``python -m training.recipe.<objective> --config YAML [overrides]``."""
    loop.main(objective, lambda cfg: train(cfg, objective), argv)
