"""The multitask objective's pairs: each feedback record gives three (:func:`term_pairs`),
one per term of the paper: question -> corrected answer, (question, chain) -> error types,
(question, chain) -> description; and, when ``data.term_weights`` names it, a fourth:
question -> the annotators' subquestions (a record without subquestions gives none).

:func:`multitask_train_pairs` is the pairs builder the objective registry names
(training/recipe/objectives.py): with the critic's data options on (:func:`critic_configured`)
the error-types term's pairs are :func:`training.data.critic_pairs.critic_pairs`
(corrections, counterfactual edits, balance), and validation adds synthetic records made from
the held-out corrections (:func:`multitask_val_extra`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from feedback_data.records.consistency import check_policy, contradicts_gold
from feedback_data.records.schema import FeedbackItem
from feedback_data.text.chain_format import reorder_chain
from feedback_data.text.instructions import (
    answer_prompt,
    description_prompt,
    description_text,
    error_types_prompt,
    error_types_text,
    subquestions_prompt,
    subquestions_text,
)
from training.data.critic_pairs import (
    CRITIC_COUNTS,
    CRITIC_TERM,
    critic_pairs,
    critic_val_items,
    sports_of_vocab,
)
from training.data.examples import (
    MULTITASK_TERMS,
    PAPER_TERMS,
    REFINE_TERM,
    SUBQUESTIONS_TERM,
    Pair,
    check_weights,
)
from training.run.config import DataConfig, RecipeConfig

# The terms a contradicting correction is a target of.
CORRECTION_TERMS = frozenset({"answer", REFINE_TERM})


def term_pairs(item: FeedbackItem, order: str = "answer_first") -> dict[str, Pair]:
    """The multitask pairs of one feedback record, keyed by term, chains in ``order``: the
    paper's three, and the subquestions pair when the annotator wrote any."""
    q, fb = item.example.question, item.feedback
    chain = reorder_chain(item.chain.text, order)
    subquestions = subquestions_text(fb.subquestions)
    extra = {SUBQUESTIONS_TERM: Pair(subquestions_prompt(q), subquestions, SUBQUESTIONS_TERM,
                                     fb.id)} if subquestions else {}
    return {**extra,
        "answer": Pair(answer_prompt(q), reorder_chain(fb.correction.text, order), "answer",
                       fb.id),
        "error_types": Pair(error_types_prompt(q, chain), error_types_text(fb.error_types),
                            "error_types", fb.id),
        "description": Pair(description_prompt(q, chain),
                            description_text(fb.reasons, fb.error_types), "description", fb.id),
    }


def multitask_pairs(items: Sequence[FeedbackItem], weights: Mapping[str, float] | None = None,
                    order: str = "answer_first", contradicting: str = "drop") -> list[Pair]:
    """Every record's pair for each term with a positive weight (the paper's three by
    default), in record order; under ``contradicting="drop"`` no answer pair for a
    correction that contradicts the gold answer. Each term's share of the training steps is
    the sampler's (``data.term_weights``), not the number of pairs here.
    """
    check_policy(contradicting)
    weights = dict.fromkeys(PAPER_TERMS, 1.0) if weights is None else weights
    check_weights(weights)
    terms = [t for t in MULTITASK_TERMS if weights.get(t, 0.0) > 0]
    out: list[Pair] = []
    for item in items:
        drop = contradicting == "drop" and contradicts_gold(item)
        pairs = term_pairs(item, order)
        out += [pairs[t] for t in terms
                if t in pairs and not (drop and t in CORRECTION_TERMS)]
    return out


def subquestion_counts(items: Sequence[FeedbackItem]) -> dict[str, int]:
    """How many records give the subquestions term a pair, and how many cannot (no
    subquestions written).

    >>> subquestion_counts([])
    {'records_with_subquestions': 0, 'records_without': 0}
    """
    with_any = sum(bool(subquestions_text(i.feedback.subquestions)) for i in items)
    return {"records_with_subquestions": with_any, "records_without": len(items) - with_any}


def critic_configured(d: DataConfig) -> bool:
    """Whether the critic's data options (data.critic_*) change the error-types pairs."""
    return bool(d.critic_corrections or any(d.critic_augment.values())
                or d.critic_balance != "none")


def multitask_train_pairs(cfg: RecipeConfig, items: Sequence[FeedbackItem],
                          counts: dict[str, Any]) -> list[Pair]:
    """The training pairs of ``items``: :func:`multitask_pairs` by ``data.term_weights``, the
    error-types term's from the critic's data options when they are on (``counts`` receives
    what those counted)."""
    d = cfg.data
    pairs = multitask_pairs(items, d.term_weights, d.chain_order, d.contradicting_corrections)
    if d.term_weights.get(SUBQUESTIONS_TERM, 0.0) > 0:
        counts[SUBQUESTIONS_TERM] = subquestion_counts(items)
    if not critic_configured(d) or d.term_weights.get(CRITIC_TERM, 0.0) <= 0:
        return pairs
    made, counted = critic_pairs(items, corrections=d.critic_corrections,
                                 augment_shares=d.critic_augment, balance=d.critic_balance,
                                 order=d.chain_order, seed=cfg.train.seed,
                                 vocab_sports=sports_of_vocab(d.tasks))
    counts[CRITIC_COUNTS] = counted.as_dict()
    return [p for p in pairs if p.term != CRITIC_TERM] + made


def multitask_eval_pairs(cfg: RecipeConfig, items: Sequence[FeedbackItem]) -> list[Pair]:
    """Every trained term's held-out pairs (the paper's three always), so the held-out loss
    of each is logged."""
    d = cfg.data
    weights = {**dict.fromkeys(PAPER_TERMS, 1.0),
               **{t: w for t, w in d.term_weights.items() if t not in PAPER_TERMS}}
    return multitask_pairs(items, weights, d.chain_order, d.contradicting_corrections)


def multitask_val_extra(cfg: RecipeConfig, items: Sequence[FeedbackItem]
                        ) -> list[FeedbackItem]:
    """Synthetic critic records beside the held-out ones, when the critic's options are on."""
    if not critic_configured(cfg.data):
        return []
    return critic_val_items(items, cfg.train.seed, sports_of_vocab(cfg.data.tasks))
