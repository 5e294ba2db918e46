"""Iterative-refinement recipe: (question, chain) -> "error types ; corrected answer".

Each feedback record gives one pair (see training/data/examples.py); a chain without error
teaches "no error ; <the chain itself>", which is what stops the refinement loop at
inference. The loop itself is training/loop.py, shared with the multitask recipe.

    accelerate launch -m training.refine --config configs/refine/tiny.yaml \
        --model /tmp/tiny --out runs/refine
    rhf train --objective refine --model /tmp/tiny --out runs/refine [--resume] [lr=1e-4 ...]
"""

from __future__ import annotations

from pathlib import Path

from training import loop
from training.data.examples import REFINE_TERM, refine_pairs
from training.run.config import ConfigError, DataConfig, RecipeConfig

OBJECTIVE = "refine"


def train(cfg: RecipeConfig) -> Path:
    """Run the recipe; returns the ``final/`` folder (loadable with ``from_pretrained``)."""
    if cfg.data.term_weights != DataConfig().term_weights:
        raise ConfigError("data.term_weights applies to the multitask objective only")
    d = cfg.data

    def pairs(items):
        return refine_pairs(items, d.chain_order, d.contradicting_corrections)

    return loop.train(cfg, loop.Objective(name=OBJECTIVE, train_pairs=pairs, eval_pairs=pairs,
                                          terms=(REFINE_TERM,)))


def main(argv: list[str] | None = None) -> None:
    """``python -m training.refine --config YAML [overrides]`` (also under accelerate)."""
    loop.main(OBJECTIVE, train, argv)


if __name__ == "__main__":
    main()
