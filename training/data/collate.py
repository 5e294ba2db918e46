"""Tokens for the pairs, and the collator that pads them and masks the labels.

Labels are the target's token ids with -100 wherever the decoder sees padding, so padding
never counts in the loss; the prompt lives on the encoder side and is never a label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from feedback_data.text.source_tokens import source_ids
from training.data.examples import Pair

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Encoded:
    """A pair as token ids (source and target each end with the tokenizer's EOS).

    A decoder-only row holds prompt + target in ``input_ids`` and the same positions in
    ``labels`` (-100 over the prompt): one sequence, so its target adds no tokens of its own.
    """

    input_ids: list[int]
    labels: list[int]
    term: str
    decoder_only: bool = False
    weight: float = 1.0  # the pair's weight in the loss (Pair.weight)

    @property
    def source_len(self) -> int:
        return len(self.input_ids)

    @property
    def target_len(self) -> int:
        """Tokens the target adds to the batch: its length, or 0 in a decoder-only row."""
        return 0 if self.decoder_only else len(self.labels)


def encode_pairs(pairs: Sequence[Pair], tokenizer: Any, max_source_len: int,
                 max_target_len: int) -> list[Encoded]:
    """Tokenize every pair once, cutting targets to their first ``max_target_len`` tokens and
    sources by the rule training and inference share
    (:func:`feedback_data.text.source_tokens.source_ids`: the first line and the end are kept)."""
    if not pairs:
        return []
    src = source_ids(tokenizer, [p.source for p in pairs], max_source_len, causal=False)
    tgt = tokenizer(text_target=[p.target for p in pairs], max_length=max_target_len,
                    truncation=True)
    return [Encoded(s, list(t), p.term, weight=p.weight)
            for s, t, p in zip(src, tgt["input_ids"], pairs, strict=True)]


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


def with_weights(batch: dict[str, torch.Tensor], features: Sequence[Encoded]
                 ) -> dict[str, torch.Tensor]:
    """``batch`` with each row's loss weight (``weight``) when a row weighs other than 1;
    a batch of unweighted rows is left as it was.

    >>> with_weights({}, [Encoded([5, 1], [7, 1], "answer", weight=2.0)])["weight"].tolist()
    [2.0]
    >>> with_weights({}, [Encoded([5, 1], [7, 1], "answer")])
    {}
    """
    if any(f.weight != 1.0 for f in features):
        batch["weight"] = torch.tensor([f.weight for f in features], dtype=torch.float32)
    return batch


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
        return with_weights(batch, features)


# --- decoder-only (causal) models ------------------------------------------------------------
# A causal model sees one sequence: the prompt, then the target and EOS. The labels are that
# sequence with -100 over the prompt, so only the target (and its EOS) carries loss; the model
# shifts labels by one itself. Training pads on the right; generation pads on the left (the
# inference backend sets ``padding_side = "left"``).


def causal_prompt_ids(tokenizer: Any, text: str, max_len: int | None = None) -> list[int]:
    """A prompt's ids as a causal model reads it: BOS (if the tokenizer has one distinct from
    EOS) then the text, never an EOS (the tiny T5 tokenizer would append one). A prompt longer
    than ``max_len`` keeps BOS, its first (instruction) line and its last tokens, which the
    target continues; the middle goes (:func:`feedback_data.text.source_tokens.source_ids`, the
    rule the inference backend uses too)."""
    return source_ids(tokenizer, [text], max_len, causal=True)[0]


def causal_target_ids(tokenizer: Any, text: str) -> list[int]:
    """A target's ids after its prompt: one leading space (the prompt ends "A:"), no EOS."""
    return list(tokenizer(" " + text.strip(), add_special_tokens=False)["input_ids"])


def encode_causal_pairs(pairs: Sequence[Pair], tokenizer: Any, max_source_len: int,
                        max_target_len: int) -> list[Encoded]:
    """Prompt + target + EOS as one sequence; labels -100 over the prompt (same interface as
    :func:`encode_pairs`, whose lengths it keeps: the prompt is cut to ``max_source_len``
    tokens by :func:`causal_prompt_ids` and the target, EOS included, to its first
    ``max_target_len``).

    With prompt ids [5, 6] and target ids [7, 8]: input_ids [5, 6, 7, 8, EOS] and labels
    [-100, -100, 7, 8, EOS].
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("a causal model's tokenizer needs an EOS token to end the targets")
    out = []
    prompts = source_ids(tokenizer, [p.source for p in pairs], max_source_len, causal=True)
    for p, prompt in zip(pairs, prompts, strict=True):
        target = causal_target_ids(tokenizer, p.target)[:max(0, max_target_len - 1)] + [eos]
        out.append(Encoded(prompt + target, [IGNORE_INDEX] * len(prompt) + target, p.term,
                           decoder_only=True, weight=p.weight))
    return out


def pad_causal_batch(features: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad prompt+target rows to the longest; padding is masked and carries no loss.

    >>> b = pad_causal_batch([Encoded([5, 6, 7, 1], [-100, -100, 7, 1], "answer"),
    ...                       Encoded([5, 8, 1], [-100, 8, 1], "answer")], pad_id=0)
    >>> b["input_ids"].tolist(), b["attention_mask"].tolist()
    ([[5, 6, 7, 1], [5, 8, 1, 0]], [[1, 1, 1, 1], [1, 1, 1, 0]])
    >>> b["labels"].tolist()
    [[-100, -100, 7, 1], [-100, 8, 1, -100]]
    """
    width = max(len(f.input_ids) for f in features)
    n = len(features)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    attention = torch.zeros((n, width), dtype=torch.long)
    labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
    for i, f in enumerate(features):
        if len(f.labels) != len(f.input_ids):
            raise ValueError("a causal row needs one label per input token; encode it with "
                             "encode_causal_pairs")
        input_ids[i, : len(f.input_ids)] = torch.tensor(f.input_ids)
        attention[i, : len(f.input_ids)] = 1
        labels[i, : len(f.labels)] = torch.tensor(f.labels)
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


class CausalCollator(PairCollator):
    """The causal twin of :class:`PairCollator`: pads with :func:`pad_causal_batch` (prompt
    and target in one right-padded row) and adds each row's term index."""

    def __call__(self, features: Sequence[Encoded]) -> dict[str, torch.Tensor]:
        batch = pad_causal_batch(features, self.pad_id)
        batch["term"] = torch.tensor([self.terms.index(f.term) for f in features])
        return with_weights(batch, features)


def is_encoder_decoder(model_config: Any) -> bool:
    """True for a seq2seq model; takes a transformers config (or a model, or a bool)."""
    if isinstance(model_config, bool):
        return model_config
    config = getattr(model_config, "config", model_config)
    return bool(getattr(config, "is_encoder_decoder", False))


def make_collator(model_config: Any, tokenizer: Any, terms: Sequence[str],
                  extra_terms: Sequence[str] = ()) -> tuple[Any, PairCollator]:
    """The one place a recipe's (encode, collator) is chosen: seq2seq or causal, from the
    model's config.

    ``encode(pairs, tokenizer, max_source_len, max_target_len)`` gives the rows the collator
    pads.
    """
    if isinstance(terms, str):
        raise TypeError(f"terms must be a sequence of term names, not the string {terms!r}")
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = tokenizer.eos_token_id
    if is_encoder_decoder(model_config):
        return encode_pairs, PairCollator(pad, terms, extra_terms)
    return encode_causal_pairs, CausalCollator(pad, terms, extra_terms)


def loss_aligned(logits: torch.Tensor, labels: torch.Tensor, encoder_decoder: bool
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels aligned for a token cross-entropy: a causal model predicts token
    t + 1 at position t, so its last logit and first label drop (seq2seq: unchanged)."""
    if encoder_decoder:
        return logits, labels
    return logits[:, :-1], labels[:, 1:]
