"""Refine pairs on chains in the base's style: what refinement is given at evaluation.

``rhf eval`` refines the base's own 0-shot CoT chains, while the paper's refine pairs hold
only the chains the paper's models wrote. With ``data.refine_base_chains`` the refine
objective also trains on the base's own chain for each training question of a task whose
facts can be checked by construction, labelled without inventing an annotation:

- Sports Understanding, against BIG-bench's vocab.json (:func:`label_by_vocab`): the chain
  gives the player or the action a sport vocab.json does not -> Factual Error; it leaves
  either sport out -> Missing Facts; its facts are right but its answer is not the one they
  imply -> Logical Inconsistency (the kinds the critic's counterfactual edits give by
  construction, ``data.critic_augment``); none of these -> no error.
- Any other task: no fact can be checked, so no label; its base chains are counted and left
  out.

The target is "no error ; <the base's chain>" for a chain without error, else "<types> ;
c", c the human correction of a training record of the same question that agrees with the
gold answer (a question without one is left out, counted). Only training records' questions
are used: the held-out and detection records never reach the pairs builder. The chains are
written by the recipe (:mod:`training.recipe.base_chains`); this module is pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from feedback_data.records.schema import FeedbackItem

SPORTS = "sports_understanding"
# run.json's key for what they counted (counts.refine_base_chains)
BASE_CHAINS = "refine_base_chains"


def label_by_vocab(question: str, chain: str, vocab: dict) -> list[str] | None:
    """The error codes a Sports chain has by vocab.json's facts ([] for none), or None when
    vocab.json does not cover the question or the chain's answer cannot be read.

    >>> vocab = {"players": {"hockey": ["Kyle Palmieri"]},
    ...          "player_actions": {"hockey": ["hit the slapshot"], "soccer": ["took a corner"]}}
    >>> q = "Kyle Palmieri hit the slapshot. Is this sentence plausible?"
    >>> label_by_vocab(q, "The answer is yes because Kyle Palmieri is a hockey player. "
    ...                "The phrase hit the slapshot belongs to hockey.", vocab)
    []
    >>> label_by_vocab(q, "The answer is no because Kyle Palmieri is a soccer player. "
    ...                "The phrase hit the slapshot belongs to hockey.", vocab)
    ['FE']
    >>> label_by_vocab(q, "The answer is no because Kyle Palmieri is a hockey player.", vocab)
    ['MF']
    >>> label_by_vocab(q, "The answer is no because Kyle Palmieri is a hockey player. "
    ...                "The phrase hit the slapshot belongs to hockey.", vocab)
    ['LI']
    """
    from feedback_data.sources.sports_vocab import sports_facts
    from feedback_data.text.chain_format import parse_chain
    from feedback_data.text.claims import sport_slots

    facts = sports_facts(question, vocab)
    if facts.player_sport is None or facts.action_sport is None:
        return None
    answer, steps, _ = parse_chain(chain)
    if answer not in ("yes", "no"):
        return None
    codes = []
    slots = sport_slots(steps)
    wrong = [s is not None and truth not in s
             for s, truth in zip(slots, (facts.player_sport, facts.action_sport), strict=True)]
    if any(wrong):
        codes.append("FE")
    if any(s is None for s in slots):
        codes.append("MF")
    if not codes and (answer == "yes") != facts.consistent:
        codes.append("LI")
    return codes


def base_chain_pairs(items: Sequence[FeedbackItem], chains: dict[str, str], vocab: dict,
                     order: str = "answer_first") -> tuple[list[Any], dict[str, Any]]:
    """The refine pairs of the base's chains (``chains``: question -> its chain) for the
    questions of ``items``, and what was counted (see the module doc)."""
    from feedback_data.text.answers import answers_match
    from feedback_data.text.chain_format import reorder_chain
    from feedback_data.text.instructions import refine_prompt, refine_target
    from training.data.examples import REFINE_TERM, Pair

    by_question: dict[str, list[FeedbackItem]] = {}
    for item in items:
        by_question.setdefault(item.example.question, []).append(item)
    counted: Counter[str] = Counter()
    pairs = []
    for question, records in by_question.items():
        ex = records[0].example
        chain = chains.get(question)
        if chain is None:
            continue
        counted["questions"] += 1
        codes = label_by_vocab(question, chain, vocab) if ex.task == SPORTS and vocab else None
        if codes is None:
            counted["no_label"] += 1
            continue
        mine = reorder_chain(chain, order)
        if not codes:
            counted["no_error"] += 1
            pairs.append(Pair(refine_prompt(question, mine), refine_target([], mine),
                              REFINE_TERM, f"base:{records[0].feedback.id}"))
            continue
        correction = next((r.feedback.correction for r in records
                           if r.feedback.correction.answer is not None
                           and ex.answer is not None
                           and answers_match(ex, r.feedback.correction.answer, ex.answer)),
                          None)
        if correction is None:
            counted["no_correction"] += 1
            continue
        counted.update(codes)
        pairs.append(Pair(refine_prompt(question, mine),
                          refine_target(codes, reorder_chain(correction.text, order)),
                          REFINE_TERM, f"base:{records[0].feedback.id}"))
    counts = {k: counted.get(k, 0) for k in ("questions", "no_label", "no_correction",
                                             "no_error", "FE", "MF", "LI")}
    counts["pairs"] = len(pairs)
    return pairs, counts
