"""The objective registry: each training objective by name, and the recipe module running it.

`rhf train --objective`, the config's ``objective`` key and docs/extending.md read the names
from here. A recipe module has ``train(cfg) -> Path`` (the run's ``final/`` folder); a new
objective is one file like training/recipe/refine.py (its pairs builder beside its name, and
``train(cfg)`` running the shared loop on them) plus one line here:

    Objective("mine", "training.recipe.mine", "what it teaches"),

``train(cfg)`` below runs a config's objective, for callers that hold a config.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from feedback_data.registry import Registry
from training.run.config import RecipeConfig


@dataclass(frozen=True)
class Objective:
    name: str
    module: str  # holds train(cfg) -> Path
    help: str = ""


OBJECTIVE_REGISTRY: Registry[Objective] = Registry("objective")
for _objective in (
    Objective("multitask", "training.recipe.multitask",
              "answer / error types / description, one model (the paper's multitask)"),
    Objective("refine", "training.recipe.refine",
              "(question, chain) -> 'error types ; correction' (iterative refinement)"),
    Objective("critic", "training.recipe.critic",
              "(question, chain) -> error types only: a separate critic, trained on the "
              "model chains, gold-consistent corrections as 'no error' and counterfactual "
              "edits of them (data.critic_*)"),
):
    OBJECTIVE_REGISTRY.register(_objective.name, _objective)


def train(cfg: RecipeConfig) -> Path:
    """Run ``cfg.objective``'s recipe (from the objective registry); returns ``final/``."""
    module = OBJECTIVE_REGISTRY.get(cfg.objective).module
    return importlib.import_module(module).train(cfg)
