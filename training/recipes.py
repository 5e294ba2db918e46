"""Pick the recipe for a config's objective: ``train(cfg)`` for callers that hold a config."""

from __future__ import annotations

import importlib
from pathlib import Path

from training.config import OBJECTIVES, RecipeConfig

RECIPE_MODULES = {"multitask": "training.multitask", "refine": "training.refine"}
assert set(RECIPE_MODULES) == set(OBJECTIVES)


def train(cfg: RecipeConfig) -> Path:
    """Run ``cfg.objective``'s recipe; returns the run's ``final/`` folder."""
    return importlib.import_module(RECIPE_MODULES[cfg.objective]).train(cfg)
