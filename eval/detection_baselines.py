"""The baselines every critic must beat in Table 2, scored on the same detection records.

Each gives every record a P(no error); Table 2 scores it like the critic (AUROC with its CI,
ECE, accuracy at P >= 0.5) and a paired bootstrap of the critic's AUROC minus the
baseline's (:func:`eval.stats.paired_bootstrap_auroc_diff`).

- ``prior``: a constant, the share of 'no error' among the critic's training feedback. It
  ranks nothing (AUROC 0.5); its ECE is what a critic that only learned the label prior gets.
- ``agreement``: self-consistency agreement (training-free, of LM-Polygraph's family): n
  answers sampled from the answering model for the record's question; P(no error) = the share
  that agree with the chain's answer (:func:`inference.combined_critic.agreement_score`).
- ``icl_cf``: the ICL baseline with content-free calibration (Zhao et al., 2021): the base
  model's label probabilities for the record divided by those for content-free inputs
  ("N/A", "", "[MASK]" as question and chain), renormalised (:func:`content_free_calibrate`).
- ``sports_rules``: for Sports only, a rule checker over BIG-bench's vocab.json
  (:func:`sports_rule_check`): does the chain name the player's sport right, and is its answer
  the one the vocabulary gives (the action belongs to the player's sport or not). The ceiling
  for a critic that knows the base's facts.

Everything here is a pure function of plain values (the runner loads models and data).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from feedback_data.text.claims import sports_named
from feedback_data.text.critic_labels import label_probabilities

# Table 2's baselines, in the order they are shown; ``sports_rules`` runs on Sports only.
DETECTION_BASELINES: tuple[str, ...] = ("prior", "agreement", "icl_cf", "sports_rules")
# The content-free inputs of Zhao et al. (2021), each put in place of question and chain.
CONTENT_FREE_INPUTS: tuple[str, ...] = ("N/A", "", "[MASK]")


def no_error_share(gold_no_error: Sequence[bool]) -> float:
    """The share of records without error (the prior's constant).

    >>> no_error_share([True, False, False, False])
    0.25
    """
    if not gold_no_error:
        raise ValueError("no training records to read the 'no error' share from")
    return sum(bool(g) for g in gold_no_error) / len(gold_no_error)


def content_free_probabilities(content_free_rows: Sequence[Sequence[float]]) -> list[float]:
    """The label distribution of the content-free inputs: the mean of each input's softmax."""
    if not content_free_rows:
        raise ValueError("content-free calibration needs at least one content-free input")
    probs = [label_probabilities(row) for row in content_free_rows]
    return [sum(col) / len(col) for col in zip(*probs, strict=True)]


def content_free_calibrate(logps: Sequence[float], p_cf: Sequence[float],
                           index: int = 0) -> float:
    """P(label ``index``) after content-free calibration: q_i ∝ p_i / p_cf_i, renormalised
    over the labels (Zhao et al., 2021, with W = diag(p_cf)^-1 and b = 0).

    >>> round(content_free_calibrate([math.log(0.2), math.log(0.8)], [0.1, 0.9]), 4)
    0.6923
    """
    if len(logps) != len(p_cf):
        raise ValueError(f"{len(logps)} label scores but {len(p_cf)} content-free probabilities")
    shifted = [lp - math.log(max(c, 1e-300)) for lp, c in zip(logps, p_cf, strict=True)]
    return label_probabilities(shifted)[index]


@dataclass(frozen=True)
class SportsRuleCheck:
    """What the rule checker read from one Sports chain (None: it could not tell)."""

    player_sport: str | None  # the player's sport in vocab.json
    action_sport: str | None  # the sport the action (or game) belongs to in vocab.json
    named_sport_right: bool | None  # the first sport the chain names is the player's
    answer_right: bool | None  # the chain's answer is the vocabulary's (same sport -> yes)

    @property
    def score(self) -> float:
        """P(no error): the share of the two checks passed; a check it cannot make counts
        1/2 (0.5 when it can make neither)."""
        parts = [0.5 if c is None else float(c)
                 for c in (self.named_sport_right, self.answer_right)]
        return sum(parts) / len(parts)


def sports_rule_check(question: str, chain: str, chain_answer: str | None,
                      vocab: dict) -> SportsRuleCheck:
    """Check a Sports chain against vocab.json.

    The player and the action are read from the question (:func:`feedback_data.sources.sports_vocab.
    sports_facts`). ``named_sport_right``: the first sport the chain names (after the
    player's name when it names the player) can be the player's sport; None when it names no
    sport or the player is not in the vocabulary. ``answer_right``: the chain says 'yes'
    exactly when the action belongs to the player's sport; None when either is unknown or the
    chain's answer cannot be read.
    """
    from feedback_data.sources.sports_vocab import sports_facts

    facts = sports_facts(question, vocab)
    named_right: bool | None = None
    if facts.player_sport is not None:
        lowered = chain.lower()
        at = lowered.find(facts.player.lower()) if facts.player else -1
        named = [s for pos, s in sports_named(chain) if pos >= max(at, 0)]
        if named:
            named_right = facts.player_sport in named[0]
    answer_right: bool | None = None
    if facts.consistent is not None and chain_answer in ("yes", "no"):
        answer_right = (chain_answer == "yes") == facts.consistent
    return SportsRuleCheck(facts.player_sport, facts.action_sport, named_right, answer_right)
