"""The objective registry: each training objective by name, and everything that makes it.

`rhf train --objective`, the config's ``objective`` key and docs/extending.md read the names
from here. An :class:`Objective` entry is the whole description of its objective: its
pairs builder (feedback records -> training pairs), its held-out pairs, the terms its
collator indexes, its validator (:mod:`training.recipe.validation`) and any config check of
its own. The shared loop runs any entry (:func:`training.recipe.run_objective.train`); a new
objective is its pairs builder and one ``register`` call:

    OBJECTIVE_REGISTRY.register("mine", Objective(
        "mine", train_pairs=mine_pairs, terms=("mine",), validate=validate_mine,
        help="what it teaches"))

``train(cfg)`` below runs a config's objective, for callers that hold a config.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feedback_data.records.schema import FeedbackItem
from feedback_data.registry import Registry
from training.data.critic_training_pairs import (
    CRITIC_TERMS,
    critic_eval_pairs,
    critic_train_pairs,
    critic_val_extra,
)
from training.data.examples import MULTITASK_TERMS, REFINE_TERM, Pair
from training.data.multitask_pairs import (
    multitask_eval_pairs,
    multitask_train_pairs,
    multitask_val_extra,
)
from training.data.refine_pairs import check_refine_config, refine_feedback_pairs
from training.recipe.base_chains import refine_pairs_with_base_chains
from training.recipe.validation import (
    ValidateFn,
    validate_critic,
    validate_multitask,
    validate_refine,
)
from training.run.config import RecipeConfig

# (cfg, records, counts) -> training pairs; counts receives what the builder counted.
PairsBuilder = Callable[[RecipeConfig, Sequence[FeedbackItem], dict[str, Any]], list[Pair]]
EvalPairsBuilder = Callable[[RecipeConfig, Sequence[FeedbackItem]], list[Pair]]
ValExtra = Callable[[RecipeConfig, Sequence[FeedbackItem]], list[FeedbackItem]]


@dataclass(frozen=True)
class Objective:
    """One training objective, all of it."""

    name: str
    train_pairs: PairsBuilder  # training records -> training pairs (the pairs builder)
    terms: tuple[str, ...]  # the collator's term order (and the per-term held-out losses)
    validate: ValidateFn  # the metrics of one validation (training.recipe.validation)
    # held-out records -> held-out pairs; None: the training pairs builder's
    eval_pairs: EvalPairsBuilder | None = None
    # held-out records -> synthetic critic records validated beside them (val/auroc_all)
    val_extra: ValExtra | None = None
    check: Callable[[RecipeConfig], None] | None = None  # a config check of its own
    help: str = ""
    # Its validation generates answers (so the new vocab.json statements are held out for it).
    validates_answers: bool = True
    # Its model is asked the error-types instruction: the critic's own selection (critic/)
    # and its reading (scoring, temperature) are kept.
    reads_critic: bool = True
    # The module whose train(cfg) -> Path runs it (and `python -m` launches it).
    module: str = "training.recipe.run_objective"

    def held_out_pairs(self, cfg: RecipeConfig, items: Sequence[FeedbackItem]) -> list[Pair]:
        if self.eval_pairs is not None:
            return self.eval_pairs(cfg, items)
        return self.train_pairs(cfg, items, {})


OBJECTIVE_REGISTRY: Registry[Objective] = Registry("objective")
for _objective in (
    Objective("multitask", multitask_train_pairs, MULTITASK_TERMS, validate_multitask,
              eval_pairs=multitask_eval_pairs, val_extra=multitask_val_extra,
              module="training.recipe.multitask",
              help="answer / error types / description, one model (the paper's multitask)"),
    Objective("refine", refine_pairs_with_base_chains, (REFINE_TERM,), validate_refine,
              eval_pairs=refine_feedback_pairs, check=check_refine_config,
              module="training.recipe.refine", reads_critic=False,
              help="(question, chain) -> 'error types ; correction' (iterative refinement)"),
    Objective("critic", critic_train_pairs, CRITIC_TERMS, validate_critic,
              eval_pairs=critic_eval_pairs, val_extra=critic_val_extra,
              module="training.recipe.critic", validates_answers=False,
              help="(question, chain) -> error types only: a separate critic, trained on the "
                   "model chains, gold-consistent corrections as 'no error' and "
                   "counterfactual edits of them (data.critic_*)"),
):
    OBJECTIVE_REGISTRY.register(_objective.name, _objective)


def train(cfg: RecipeConfig) -> Path:
    """Run ``cfg.objective`` (from the objective registry); returns ``final/``."""
    module = OBJECTIVE_REGISTRY.get(cfg.objective).module
    return importlib.import_module(module).train(cfg)
