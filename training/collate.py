"""Tokens for the pairs, and the collator that pads them and masks the labels.

Labels are the target's token ids with -100 wherever the decoder sees padding, so padding
never counts in the loss; the prompt lives on the encoder side and is never a label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from training.examples import Pair

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Encoded:
    """A pair as token ids (source and target each end with the tokenizer's EOS)."""

    input_ids: list[int]
    labels: list[int]
    term: str


def encode_pairs(pairs: Sequence[Pair], tokenizer: Any, max_source_len: int,
                 max_target_len: int) -> list[Encoded]:
    """Tokenize every pair once, cutting sources and targets to their maximum lengths."""
    if not pairs:
        return []
    src = tokenizer([p.source for p in pairs], max_length=max_source_len, truncation=True)
    tgt = tokenizer(text_target=[p.target for p in pairs], max_length=max_target_len,
                    truncation=True)
    return [Encoded(list(s), list(t), p.term)
            for s, t, p in zip(src["input_ids"], tgt["input_ids"], pairs, strict=True)]


def pad_batch(features: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the batch's longest source and target (dynamic padding)."""
    src_len = max(len(f.input_ids) for f in features)
    tgt_len = max(len(f.labels) for f in features)
    n = len(features)
    input_ids = torch.full((n, src_len), pad_id, dtype=torch.long)
    attention = torch.zeros((n, src_len), dtype=torch.long)
    labels = torch.full((n, tgt_len), IGNORE_INDEX, dtype=torch.long)
    for i, f in enumerate(features):
        input_ids[i, : len(f.input_ids)] = torch.tensor(f.input_ids)
        attention[i, : len(f.input_ids)] = 1
        labels[i, : len(f.labels)] = torch.tensor(f.labels)
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


class PairCollator:
    """Pads a batch of pairs and adds each row's term index (for per-term held-out losses).

    ``terms`` fixes the index order: the objective's own terms first, then any other term
    met in the data (e.g. a pairs file's "chain"), so a term keeps its index across batches.

    >>> c = PairCollator(pad_id=0, terms=("answer", "error_types", "description"))
    >>> b = c([Encoded([5, 6, 1], [7, 1], "answer"), Encoded([5, 1], [8, 9, 1], "description")])
    >>> b["input_ids"].tolist(), b["labels"].tolist(), b["term"].tolist()
    ([[5, 6, 1], [5, 1, 0]], [[7, 1, -100], [8, 9, 1]], [0, 2])
    >>> PairCollator(0, ("refine",))([Encoded([5, 1], [7, 3, 1], "refine")])["labels"]
    tensor([[7, 3, 1]])
    """

    def __init__(self, pad_id: int, terms: Sequence[str], extra_terms: Sequence[str] = ()):
        self.pad_id = pad_id
        self.terms = tuple(terms) + tuple(t for t in extra_terms if t not in terms)

    def __call__(self, features: Sequence[Encoded]) -> dict[str, torch.Tensor]:
        batch = pad_batch(features, self.pad_id)
        batch["term"] = torch.tensor([self.terms.index(f.term) for f in features])
        return batch


def make_collator(tokenizer: Any, terms: Sequence[str],
                  extra_terms: Sequence[str] = ()) -> PairCollator:
    """The one place a recipe's collator is chosen (a causal-LM collator plugs in here)."""
    return PairCollator(tokenizer.pad_token_id, terms, extra_terms)
