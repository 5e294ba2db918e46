"""Iterative-refinement recipe: (question, chain) -> "error types ; corrected answer".

Each feedback record gives one pair (:func:`training.data.refine_pairs.refine_pairs`); a
chain without error teaches "no error ; <the chain itself>", which is what stops the
refinement loop at inference; with ``data.refine_keep_corrections`` each gold-consistent
human correction c also teaches "no error ; c"
(:func:`training.data.refine_pairs.kept_correction_pairs`).

Everything the objective is (pairs builder, collator term, validator
:func:`training.recipe.validation.validate_refine`: one refine round on each held-out chain,
answer accuracy and val/detection_accuracy; ``data.term_weights`` must stay the default) is
its entry in training/recipe/objectives.py; the loop is training/recipe/loop.py, shared with
the other objectives (:mod:`training.recipe.run_objective`).

    accelerate launch -m training.recipe.refine --config configs/refine/tiny.yaml \
        --model /tmp/tiny --out runs/refine
    rhf train --objective refine --model /tmp/tiny --out runs/refine [--resume] [lr=1e-4 ...]
"""

from __future__ import annotations

from pathlib import Path

from training.recipe import run_objective
from training.run.config import RecipeConfig

OBJECTIVE = "refine"


def train(cfg: RecipeConfig) -> Path:
    """Run the recipe; returns the ``final/`` folder (loadable with ``from_pretrained``)."""
    return run_objective.train(cfg, OBJECTIVE)


def main(argv: list[str] | None = None) -> None:
    """``python -m training.recipe.refine --config YAML [overrides]`` (also under accelerate)."""
    run_objective.main(OBJECTIVE, argv)


if __name__ == "__main__":
    main()
