"""The refine objective's pairs builder with ``data.refine_base_chains``: the base (the model
the run starts from) writes its own greedy 0-shot CoT chain for each training question, as
the protocol validation and ``rhf eval`` ask it, and :mod:`training.data.base_chains` labels
them by construction and makes them refine pairs. Counted in run.json
(``counts.refine_base_chains``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from feedback_data.records.schema import Example, FeedbackItem
from training.data.base_chains import BASE_CHAINS, base_chain_pairs
from training.data.examples import Pair
from training.data.refine_pairs import refine_feedback_pairs
from training.run.config import RecipeConfig


def base_chains(cfg: RecipeConfig, examples: Sequence[Example]) -> dict[str, str]:
    """The base's greedy 0-shot CoT chain for each question of ``examples``, keyed by
    question (the base without any adapter; this process's GPU, else the CPU)."""
    from feedback_data.tasks.prompts import cot_prompt
    from training.model.modeling import load_model, load_tokenizer
    from training.recipe.validation import generate

    questions = list(dict.fromkeys((ex.task, ex.question) for ex in examples))
    if not questions:
        return {}
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
                          if torch.cuda.is_available() else "cpu")
    model = load_model(replace(cfg.model, lora_r=0)).to(device).eval()
    tokenizer = load_tokenizer(cfg.model.name_or_path)
    texts = generate(model, tokenizer, [cot_prompt(t, q, []) for t, q in questions],
                     cfg.data.max_source_len, cfg.train.val_max_new_tokens,
                     bool(model.config.is_encoder_decoder), device)
    del model
    return {q: text for (_, q), text in zip(questions, texts, strict=True)}


def refine_pairs_with_base_chains(cfg: RecipeConfig, items: Sequence[FeedbackItem],
                                  counts: dict[str, Any] | None = None) -> list[Pair]:
    """The refine objective's pairs of the feedback records (training/data/refine_pairs.py)
    and, with ``data.refine_base_chains``, those of the base's own chains (``counts``
    receives what they counted)."""
    out = refine_feedback_pairs(cfg, items)
    if not cfg.data.refine_base_chains:
        return out
    vocab: dict = {}
    if "sports_understanding" in cfg.data.tasks:
        from feedback_data.sources.bigbench import load_sports_vocab

        vocab = load_sports_vocab()
    chains = base_chains(cfg, [i.example for i in items])
    made, counted = base_chain_pairs(items, chains, vocab, cfg.data.chain_order)
    if counts is not None:
        counts[BASE_CHAINS] = counted
    return out + made
