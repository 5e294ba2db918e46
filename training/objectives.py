"""The objective registry: each training objective by name, and the recipe module running it.

`rhf train --objective`, the config's ``objective`` key and docs/extending.md read the names
from here. A recipe module has ``train(cfg) -> Path`` (the run's ``final/`` folder); a new
objective is a module like training/refine.py (pairs from feedback, the shared loop) plus

    OBJECTIVE_REGISTRY.register("mine", Objective("mine", "training.mine", "what it teaches"))
"""

from __future__ import annotations

from dataclasses import dataclass

from feedback_data.registry import Registry


@dataclass(frozen=True)
class Objective:
    name: str
    module: str  # holds train(cfg) -> Path
    help: str = ""


OBJECTIVE_REGISTRY: Registry[Objective] = Registry("objective")
for _objective in (
    Objective("multitask", "training.multitask",
              "answer / error types / description, one model (the paper's multitask)"),
    Objective("refine", "training.refine",
              "(question, chain) -> 'error types ; correction' (iterative refinement)"),
):
    OBJECTIVE_REGISTRY.register(_objective.name, _objective)
