"""Pre-train the tiny T5 from scratch into a chain writer: the demo's stand-in for Flan-T5.

Pairs are ``cot_prompt(task, question, shots) -> format_chain(gold answer, gold explanation)``
on questions in no evaluation set (:mod:`training.data.pretrain_data`): StrategyQA's gold chains
of the paper's training questions, and new Sports statements built from vocab.json. Shots are
drawn per example from the train pool (never the example itself), so with ``k > 0`` the
model learns the prompt format rather than one fixed prompt. Training runs through the
multitask recipe on a pairs file; nothing is tuned on the dev sets.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from feedback_data.records.jsonl import write_records
from feedback_data.records.schema import PAPER_TASKS
from feedback_data.text.chain_format import format_chain
from training.data.pretrain_data import pretrain_examples, synthetic_sports_examples

PRETRAIN_TERM = "chain"


@dataclass
class PretrainConfig:
    """How the base is pre-trained; the defaults build the demo's shipped base."""

    size: str = "small"  # a preset of training.model.tiny_model.SIZES
    k: int = 0  # shots in each CoT prompt it is trained on
    synthetic_sports: int = 40000  # new Sports statements from vocab.json
    strategyqa_repeats: int = 4  # StrategyQA gold chains per epoch (a few hundred questions)
    epochs: float = 8.0
    batch_size: int = 128
    lr: float = 2e-3
    warmup_ratio: float = 0.02
    seed: int = 0
    max_source_len: int = 96
    max_target_len: int = 96
    max_pairs: int | None = None  # cap (tests)


def pretrain_pairs(k: int, seed: int = 0, tasks: tuple[str, ...] = PAPER_TASKS,
                   synthetic_sports: int = 0, strategyqa_repeats: int = 1) -> list[dict]:
    """One {source, target, term, id} pair per pre-training example, shots drawn per example.

    Sports pairs are ``synthetic_sports`` new statements from vocab.json (the BIG-bench Sports
    questions of the paper's training file are the base's validation set, not trained on);
    StrategyQA pairs are its gold chains, each ``strategyqa_repeats`` times.
    """
    from feedback_data.tasks.prompts import cot_prompt, shot_pool

    rng = random.Random(seed)
    pairs = []
    for task in tasks:
        pool = list(shot_pool(task))
        if task == "sports_understanding":
            examples = synthetic_sports_examples(synthetic_sports, seed=seed)
        else:
            examples = pretrain_examples(task) * max(1, strategyqa_repeats)
        for ex in examples:
            candidates = [s for s in pool if s.id != ex.id]
            shots = rng.sample(candidates, min(k, len(candidates)))
            pairs.append({
                "source": cot_prompt(task, ex.question, shots),
                "target": format_chain(ex.answer, ex.explanation),
                "term": PRETRAIN_TERM,
                "id": ex.id,
            })
    rng.shuffle(pairs)
    return pairs


def pretrain_tiny(out: str | Path, cfg: PretrainConfig | None = None,
                  init_from: str | Path | None = None) -> Path:
    """Build (or take) a tiny T5, train it on gold chains, return the folder of the result.

    ``out`` becomes a run folder (``init/``, the pairs, ``run/`` with config, run.json,
    metrics.jsonl) whose ``run/final/`` is the pre-trained model.
    """
    from training.model.tiny_model import init_tiny
    from training.recipe.multitask import train
    from training.run.config_load import load_config

    cfg = cfg or PretrainConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    init = Path(init_from) if init_from else init_tiny(out / "init", seed=cfg.seed,
                                                       size=cfg.size)
    pairs_file = out / "pretrain_pairs.jsonl"
    pairs = pretrain_pairs(k=cfg.k, seed=cfg.seed, synthetic_sports=cfg.synthetic_sports,
                           strategyqa_repeats=cfg.strategyqa_repeats)
    write_records(pairs_file, pairs[:cfg.max_pairs])
    recipe = load_config(overrides={
        "model.name_or_path": str(init),
        "data.tasks": [],
        "data.pairs_file": str(pairs_file),
        "data.eval_fraction": 0.01,
        "data.eval_max": 256,
        "data.max_source_len": cfg.max_source_len,
        "data.max_target_len": cfg.max_target_len,
        "train.output_dir": str(out / "run"),
        "train.epochs": cfg.epochs,
        "train.batch_size": cfg.batch_size,
        "train.lr": cfg.lr,
        "train.seed": cfg.seed,
        "train.scheduler": "cosine",
        "train.warmup_ratio": cfg.warmup_ratio,
        "train.save_every": 0,
        "train.eval_every": 0,
        "train.log_every": 50,
    }, objective="multitask")
    return train(recipe)


