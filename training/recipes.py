"""Pick the recipe for a config's objective: ``train(cfg)`` for callers that hold a config."""

from __future__ import annotations

import importlib
from pathlib import Path

from training.objectives import OBJECTIVE_REGISTRY
from training.run.config import RecipeConfig


def train(cfg: RecipeConfig) -> Path:
    """Run ``cfg.objective``'s recipe (from the objective registry); returns ``final/``."""
    module = OBJECTIVE_REGISTRY.get(cfg.objective).module
    return importlib.import_module(module).train(cfg)
