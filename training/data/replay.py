"""Replay pairs: what the base was trained on, mixed into fine-tuning against forgetting.

``data.replay: base`` rebuilds the shipped tiny base's own pre-training chains
(:mod:`training.data.pretrain_data`): the first vocab.json Sports statements of its pre-training
stream and the StrategyQA gold chains of the paper's training questions, each posed with the
answer instruction the fine-tuned model answers at evaluation and written in the run's
``data.chain_order``. Validation questions are never replayed. Any other value is a pairs
JSONL ({source, target, term}) used as it is. Every replay pair has the term ``replay``, whose
share of the optimizer steps is ``data.replay_share``.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from feedback_data.errors import DataError
from feedback_data.text.chain_format import format_chain
from feedback_data.text.instructions import answer_prompt
from training.data.examples import REPLAY_TERM, Pair, load_pairs
from training.run.config import ConfigError, DataConfig

BASE = "base"


def base_replay_pairs(n: int, order: str, tasks: Collection[str],
                      exclude: Collection[str] = ()) -> list[Pair]:
    """``n`` pairs of the tiny base's pre-training chains: half StrategyQA gold chains (as
    many as there are), the rest Sports statements; none whose example id is in
    ``exclude``."""
    from training.data.pretrain_data import pretrain_examples, synthetic_sports_examples

    strategy = [e for e in pretrain_examples("strategyqa") if e.id not in exclude] \
        if "strategyqa" in tasks else []
    strategy = strategy[: n // 2 if "sports_understanding" in tasks else n]
    sports = [e for e in synthetic_sports_examples(n - len(strategy) + len(exclude), seed=0)
              if e.id not in exclude][: n - len(strategy)] \
        if "sports_understanding" in tasks else []
    return [Pair(answer_prompt(e.question), format_chain(e.answer, e.explanation, order),
                 REPLAY_TERM, e.id) for e in [*strategy, *sports]]


def replay_pairs(cfg: DataConfig, exclude: Collection[str] = ()) -> list[Pair]:
    """The replay pairs ``cfg.replay`` asks for ([] when it is '')."""
    if not cfg.replay:
        return []
    if cfg.replay == BASE:
        return base_replay_pairs(cfg.replay_pairs, cfg.chain_order, cfg.tasks, exclude)
    if not Path(cfg.replay).is_file():
        raise ConfigError(f"data.replay: {cfg.replay} is neither 'base' nor a pairs file")
    try:
        pairs = load_pairs(cfg.replay)
    except DataError as exc:
        raise ConfigError(f"data.replay: {exc}") from None
    return [Pair(p.source, p.target, REPLAY_TERM, p.id) for p in pairs]
