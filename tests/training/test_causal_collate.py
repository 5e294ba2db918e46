"""The causal collator: prompt + target + EOS in one row, loss on the target only."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from training.data.batching import grouped_batches, padding_efficiency, rows_per_batch
from training.data.collate import (
    IGNORE_INDEX,
    CausalCollator,
    Encoded,
    PairCollator,
    encode_causal_pairs,
    encode_pairs,
    loss_aligned,
    make_collator,
)
from training.data.examples import Pair


class WordTokenizer:
    """Each word is one id (its index in the vocabulary + 3); 0 pad, 1 EOS, 2 BOS."""

    pad_token_id, eos_token_id = 0, 1

    def __init__(self, vocab: list[str], bos: bool = False) -> None:
        self.vocab = vocab
        self.bos_token_id = 2 if bos else None

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict:
        assert not add_special_tokens  # the causal encoder adds BOS/EOS itself
        return {"input_ids": [self.vocab.index(w) + 3 for w in text.split()]}


TOK = WordTokenizer(["Q:", "cats?", "A:", "yes", "no", "because", "fur", "Answer", "this"])


def test_labels_by_hand():
    pairs = [Pair("Q: cats? A:", "yes because fur", "answer"), Pair("A:", "no", "refine")]
    rows = encode_causal_pairs(pairs, TOK, max_source_len=8, max_target_len=8)
    assert rows[0] == Encoded([3, 4, 5, 6, 8, 9, 1], [-100, -100, -100, 6, 8, 9, 1], "answer",
                             decoder_only=True)
    assert rows[1] == Encoded([5, 7, 1], [-100, 7, 1], "refine", decoder_only=True)
    # a one-line prompt over the budget keeps half from its start and the rest from its end
    # (the target continues it); the target keeps its first tokens and room for EOS
    cut = encode_causal_pairs(pairs[:1], TOK, max_source_len=2, max_target_len=2)
    assert cut[0] == Encoded([3, 5, 6, 1], [-100, -100, 6, 1], "answer", decoder_only=True)
    bos_tok = WordTokenizer(TOK.vocab, bos=True)
    with_bos = encode_causal_pairs(pairs[1:], bos_tok, 8, 8)
    assert with_bos[0] == Encoded([2, 5, 7, 1], [-100, -100, 7, 1], "refine",
                                 decoder_only=True)
    cut = encode_causal_pairs(pairs[:1], bos_tok, max_source_len=3, max_target_len=8)
    assert cut[0].input_ids[:3] == [2, 4, 5]  # BOS (the first half), then the end
    # a prompt with an instruction line keeps that line and its end; the middle goes
    two_lines = [Pair("Answer this\n Q: cats? fur fur fur A:", "yes", "answer")]
    cut = encode_causal_pairs(two_lines, bos_tok, max_source_len=7, max_target_len=8)
    assert cut[0].input_ids[:7] == [2, 10, 11, 9, 9, 9, 5]  # "Q: cats?" went


def test_token_budget_counts_a_decoder_only_row_once():
    """Prompt + target are one sequence: a row of 10 ids costs 10 tokens, not 20."""
    causal = [Encoded([5] * 10, [-100] * 6 + [7] * 4, "answer", decoder_only=True)
              for _ in range(6)]
    pair = [Encoded([5] * 10, [7] * 10, "answer") for _ in range(6)]
    assert (causal[0].source_len, causal[0].target_len) == (10, 0)
    assert (pair[0].source_len, pair[0].target_len) == (10, 10)
    assert rows_per_batch(causal, 8, max_tokens=100) == 10
    assert rows_per_batch(pair, 8, max_tokens=100) == 5
    # budget 30: three 10-id causal rows per batch; one 10 + 10 pair per batch
    assert sorted(map(len, grouped_batches(causal, 8, seed=0, max_tokens=30))) == [3, 3]
    assert sorted(map(len, grouped_batches(pair, 8, seed=0, max_tokens=30))) == [1] * 6
    # rows of 10 and 6 ids: 16 real of 2 x 10 padded
    short = Encoded([5] * 6, [-100] * 4 + [7] * 2, "answer", decoder_only=True)
    assert padding_efficiency([causal[0], short], [[0, 1]]) == pytest.approx(16 / 20)


def test_collator_pads_right_and_masks_padding():
    rows = encode_causal_pairs([Pair("Q: cats? A:", "yes", "answer"),
                                Pair("Q: A:", "no because fur", "description")], TOK, 8, 8)
    batch = CausalCollator(0, ("answer", "error_types", "description"))(rows)
    assert batch["input_ids"].tolist() == [[3, 4, 5, 6, 1, 0], [3, 5, 7, 8, 9, 1]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]]
    assert batch["labels"].tolist() == [[-100, -100, -100, 6, 1, -100],
                                        [-100, -100, 7, 8, 9, 1]]
    assert batch["term"].tolist() == [0, 2]
    with pytest.raises(ValueError, match="one label per input token"):
        CausalCollator(0, ("answer",))([Encoded([3, 4], [4], "answer")])


def test_make_collator_picks_by_config():
    from transformers import LlamaConfig, T5Config

    multitask = ("answer", "error_types", "description")
    encode, collate = make_collator(T5Config(), TOK, multitask)
    assert encode is encode_pairs and type(collate) is PairCollator
    encode, collate = make_collator(T5Config(), TOK, ("refine",), extra_terms=["x"])
    assert type(collate) is PairCollator and collate.terms == ("refine", "x")
    encode, collate = make_collator(LlamaConfig(), TOK, ("refine",), extra_terms=["x"])
    assert encode is encode_causal_pairs and isinstance(collate, CausalCollator)
    assert collate.terms == ("refine", "x")
    _, collate = make_collator(LlamaConfig(), TOK, multitask)
    assert collate.terms == multitask


def test_prompt_tokens_carry_no_loss(tiny_llama: Path):
    """The model's loss is the mean cross-entropy over the target tokens alone, and no
    gradient reaches the logits at prompt positions."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    pairs = [Pair("Predict the correct answer.\nQ: Do cats fly?\nA:", "The answer is no.", "a"),
             Pair("Q: Is ice cold?\nA:", "The answer is yes because it is frozen.", "a")]
    rows = encode_causal_pairs(pairs, tok, 64, 32)
    assert rows[0].input_ids[-1] == tok.eos_token_id
    n_prompt = len(tok("Predict the correct answer.\nQ: Do cats fly?\nA:",
                       add_special_tokens=False)["input_ids"])
    assert rows[0].labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert rows[0].labels[n_prompt:] == rows[0].input_ids[n_prompt:]
    assert tok.decode(rows[0].input_ids[n_prompt:-1]) == " The answer is no."
    batch = CausalCollator(tok.pad_token_id, ("a",))(rows)
    batch.pop("term")
    out = model(**batch)
    logits, labels = loss_aligned(out.logits, batch["labels"], encoder_decoder=False)
    keep = labels != IGNORE_INDEX
    manual = F.cross_entropy(logits[keep], labels[keep])
    assert out.loss.item() == pytest.approx(manual.item(), rel=1e-5)
    assert int(keep.sum()) == sum(len(p.target) > 0 and (torch.tensor(r.labels) != -100).sum()
                                  for p, r in zip(pairs, rows, strict=True))
    out.logits.retain_grad()
    out.loss.backward()
    grad = out.logits.grad
    prompt_pos = torch.zeros_like(keep)
    prompt_pos[0, : n_prompt - 1] = True  # logits at these positions predict prompt tokens
    assert grad[0, : n_prompt - 1].abs().sum() == 0
    assert grad[0, n_prompt - 1].abs().sum() > 0  # predicts the first target token
