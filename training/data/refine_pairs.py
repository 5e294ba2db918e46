"""The refine objective's pairs: (question, chain) -> "error types ; corrected answer".

Each feedback record gives one pair (:func:`refine_pairs`); a chain without error teaches
"no error ; <the chain itself>", which is what stops the refinement loop at inference.
:func:`refine_feedback_pairs` gives the objective's pairs of the feedback records (its held-out
pairs as they are; training adds the base's own chains with ``data.refine_base_chains``,
training/recipe/base_chains.py, the pairs builder the objective registry names).
"""

from __future__ import annotations

from collections.abc import Sequence

from feedback_data.records.consistency import check_policy, contradicts_gold
from feedback_data.records.schema import FeedbackItem
from feedback_data.text.answers import answers_match
from feedback_data.text.chain_format import reorder_chain
from feedback_data.text.instructions import refine_prompt, refine_target
from training.data.examples import REFINE_TERM, Pair
from training.run.config import ConfigError, DataConfig, RecipeConfig


def refine_pair(item: FeedbackItem, order: str = "answer_first") -> Pair:
    q, fb = item.example.question, item.feedback
    chain = reorder_chain(item.chain.text, order)
    if fb.error_types:
        target = refine_target(list(fb.error_types), reorder_chain(fb.correction.text, order))
    else:
        target = refine_target([], chain)  # "no error ; <the chain itself>"
    return Pair(refine_prompt(q, chain), target, REFINE_TERM, fb.id)


def refine_pairs(items: Sequence[FeedbackItem], order: str = "answer_first",
                 contradicting: str = "drop") -> list[Pair]:
    """One iterative-refinement pair per record, in the records' order; under
    ``contradicting="drop"`` none for a record whose correction contradicts the gold answer
    (its target would teach the wrong answer)."""
    check_policy(contradicting)
    return [refine_pair(item, order) for item in items
            if not (contradicting == "drop" and contradicts_gold(item))]


def kept_correction_pairs(items: Sequence[FeedbackItem], order: str = "answer_first"
                          ) -> list[Pair]:
    """"no error ; c" for every record whose human correction c agrees with the gold answer:
    given a correct chain, the refine model learns to keep it (without these pairs it only
    ever sees "no error" for the model-written chains the annotators passed, and learns to
    rewrite almost everything). A record without error is left out (:func:`refine_pair`
    already teaches "no error" on its chain), as is a correction whose answer cannot be read
    or does not match the gold answer."""
    out = []
    for item in items:
        fb, ex = item.feedback, item.example
        c = fb.correction
        if (not fb.error_types or not c.text.strip() or c.answer is None or ex.answer is None
                or not answers_match(ex, c.answer, ex.answer)):
            continue
        chain = reorder_chain(c.text, order)
        out.append(Pair(refine_prompt(ex.question, chain), refine_target([], chain),
                        REFINE_TERM, fb.id))
    return out


def check_refine_config(cfg: RecipeConfig) -> None:
    """The refine objective has one term: ``data.term_weights`` must stay the default."""
    if cfg.data.term_weights != DataConfig().term_weights:
        raise ConfigError("data.term_weights applies to the multitask objective only")


def refine_feedback_pairs(cfg: RecipeConfig, items: Sequence[FeedbackItem]) -> list[Pair]:
    """The refine pairs of ``items`` (training and held out), with ``data.
    refine_keep_corrections`` also "no error ; c" on each gold-consistent correction c."""
    d = cfg.data
    out = refine_pairs(items, d.chain_order, d.contradicting_corrections)
    if d.refine_keep_corrections:
        out += kept_correction_pairs(items, d.chain_order)
    return out
