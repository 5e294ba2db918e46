"""A source's token ids, cut to the model's source length by one rule for training and
inference (training.data.collate and inference.backends both call :func:`source_ids`).

The rule: a source that fits is left whole. A longer one keeps its first line (rhf's prompts
start with the instruction: "Which errors does the answer ... contain?") and as much of its
end as fits (where a causal model continues, and where a seq2seq source ends with EOS); the
middle goes, which in rhf's prompts is the question's end or the chain. The first line keeps
at most half the budget. A seq2seq source carries the tokenizer's special tokens (T5: EOS at
the end); a causal prompt starts with BOS (when the tokenizer has one distinct from EOS) and
has no EOS, since the target continues it.

    >>> cut_middle([1, 2, 3, 4, 5, 6, 7, 8], head=2, max_len=5)
    [1, 2, 6, 7, 8]

The length a model was trained with is recorded in its checkpoint (``config.yaml``'s
``data.max_source_len``); the inference backend reads it from there, so a trained model is
asked with the text it was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def cut_middle(ids: list[int], head: int, max_len: int) -> list[int]:
    """``ids`` if it fits in ``max_len``, else its first ``min(head, max_len // 2)`` ids and
    its last ones, ``max_len`` in all."""
    if len(ids) <= max_len:
        return list(ids)
    keep_head = max(0, min(head, max_len // 2))
    keep_tail = max_len - keep_head
    return list(ids[:keep_head]) + (list(ids[len(ids) - keep_tail:]) if keep_tail else [])


def _first_line_end(text: str) -> int | None:
    """Characters of the first line, its newline included; None for a one-line text."""
    pos = text.find("\n")
    return None if pos < 0 or pos == len(text) - 1 else pos + 1


def _bos(tokenizer: Any) -> list[int]:
    bos = tokenizer.bos_token_id
    return [bos] if bos is not None and bos != tokenizer.eos_token_id else []


def source_ids(tokenizer: Any, texts: Sequence[str], max_len: int | None, *,
               causal: bool) -> list[list[int]]:
    """Each text's ids as the model reads it, cut by the rule above (``max_len`` None: whole).

    A fast tokenizer: one batched call, whose character offsets find where the first line
    ends; a slow one: a call per text, and the first line tokenized on its own.
    """
    texts = list(texts)
    if not texts:
        return []
    special = not causal
    fast = bool(getattr(tokenizer, "is_fast", False))
    if fast:
        # verbose=False: the "longer than the model's maximum" warning is what the cut is for
        enc = tokenizer(texts, add_special_tokens=special, return_offsets_mapping=True,
                        verbose=False)
        rows = enc["input_ids"]
    else:
        rows = [tokenizer(t, add_special_tokens=special)["input_ids"] for t in texts]
    prefix = _bos(tokenizer) if causal else []
    out: list[list[int]] = []
    for k, text in enumerate(texts):
        ids = prefix + list(rows[k])
        if max_len is None or len(ids) <= max_len:
            out.append(ids)
            continue
        end = _first_line_end(text)
        if end is None:
            head = max_len // 2
        elif fast:
            offsets = enc["offset_mapping"][k]
            head = len(prefix)
            for start, stop in offsets:
                if start >= end or (start == stop == 0 and head > len(prefix)):
                    break  # the second line, or a trailing special token
                head += 1
        else:
            head = len(prefix) + len(tokenizer(text[:end], add_special_tokens=False)[
                "input_ids"])
        out.append(cut_middle(ids, head, max_len))
    return out
