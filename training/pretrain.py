"""Pre-train the tiny T5 from scratch into a chain writer: the demo's stand-in for Flan-T5.

Pairs are ``cot_prompt(task, question, shots) -> format_chain(gold answer, gold explanation)``
on questions in no evaluation set (:mod:`training.pretrain_data`), with shots drawn per
example from the train pool (never the example itself), so the model learns the prompt
format rather than one fixed prompt. Training runs through the multitask recipe on a pairs
file; nothing is tuned on the dev sets.
"""

from __future__ import annotations

import random
from pathlib import Path

from feedback_data.chain_format import format_chain
from feedback_data.jsonl import write_records
from feedback_data.schema import TASKS
from training.pretrain_data import pretrain_examples, synthetic_sports_examples

PRETRAIN_TERM = "chain"


def pretrain_pairs(k: int, seed: int = 0, tasks: tuple[str, ...] = TASKS,
                   synthetic_sports: int = 0) -> list[dict]:
    """One {source, target, term, id} pair per pre-training example, shots drawn per example.

    ``synthetic_sports`` adds that many new statements built from vocab.json (none of them
    a dev question), which teaches a model trained from scratch to read the question.
    """
    from inference.prompts import cot_prompt, shot_pool

    rng = random.Random(seed)
    pairs = []
    for task in tasks:
        pool = list(shot_pool(task))
        examples = pretrain_examples(task)
        if task == "sports_understanding" and synthetic_sports:
            examples += synthetic_sports_examples(synthetic_sports, seed=seed)
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


def pretrain_tiny(
    out: str | Path,
    k: int = 0,
    epochs: float = 5.0,
    batch_size: int = 16,
    lr: float = 3e-3,
    seed: int = 0,
    init_from: str | Path | None = None,
    max_source_len: int = 320,
    max_target_len: int = 96,
    max_pairs: int | None = None,
    synthetic_sports: int = 4000,
) -> Path:
    """Build (or take) a tiny T5, train it on gold chains, return the folder of the result.

    ``out`` becomes a run folder (config, run.json, metrics.jsonl, checkpoints) whose
    ``final/`` is the pre-trained model.
    """
    from training.config import load_config
    from training.multitask import train
    from training.tiny_model import init_tiny

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    init = Path(init_from) if init_from else init_tiny(out / "init", seed=seed)
    pairs_file = out / "pretrain_pairs.jsonl"
    write_records(pairs_file, pretrain_pairs(k=k, seed=seed,
                                                 synthetic_sports=synthetic_sports)[:max_pairs])
    cfg = load_config(overrides={
        "model.name_or_path": str(init),
        "data.tasks": [],
        "data.pairs_file": str(pairs_file),
        "data.eval_fraction": 0.03,
        "data.max_source_len": max_source_len,
        "data.max_target_len": max_target_len,
        "train.output_dir": str(out / "run"),
        "train.epochs": epochs,
        "train.batch_size": batch_size,
        "train.lr": lr,
        "train.seed": seed,
        "train.scheduler": "cosine",
        "train.warmup_ratio": 0.03,
        "train.save_every": 0,
    }, objective="multitask")
    return train(cfg)
