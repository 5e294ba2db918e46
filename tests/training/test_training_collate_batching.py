"""Label masking in the collators, and the length-grouped batches."""

from __future__ import annotations

import doctest
from collections import Counter

import pytest

import training.data.collate
from feedback_data.sources.paper_import import load_paper_feedback
from training.data.batching import (
    EpochBatchSampler,
    grouped_batches,
    pack_by_tokens,
    padding_efficiency,
    random_batches,
)
from training.data.collate import IGNORE_INDEX, Encoded, PairCollator, encode_pairs
from training.data.examples import MULTITASK_TERMS, REFINE_TERM
from training.data.multitask_pairs import multitask_pairs
from training.data.refine_pairs import refine_pairs


def test_collator_docstring_examples():
    assert doctest.testmod(training.data.collate).failed == 0


@pytest.mark.parametrize("collator", [PairCollator(0, MULTITASK_TERMS),
                                      PairCollator(0, (REFINE_TERM,))],
                         ids=["multitask", "refine"])
def test_labels_are_minus_100_exactly_on_padding(collator):
    term = collator.terms[0]
    feats = [Encoded([4, 5, 6, 1], [7, 1], term), Encoded([4, 1], [7, 8, 9, 10, 1], term)]
    batch = collator(feats)
    assert batch["labels"].tolist() == [[7, 1, -100, -100, -100], [7, 8, 9, 10, 1]]
    assert batch["input_ids"].tolist() == [[4, 5, 6, 1], [4, 1, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]


@pytest.fixture(scope="module")
def encoded(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    items = load_paper_feedback("strategyqa", "train")
    return tok, encode_pairs(multitask_pairs(items, None), tok, 256, 128)


def test_real_pairs_mask_padding_and_end_with_eos(encoded):
    tok, enc = encoded
    batch = PairCollator(tok.pad_token_id, MULTITASK_TERMS)(enc[:16])
    for row, f in zip(batch["labels"].tolist(), enc[:16], strict=True):
        assert row[: len(f.labels)] == f.labels and f.labels[-1] == tok.eos_token_id
        assert set(row[len(f.labels):]) <= {IGNORE_INDEX}
    assert (batch["labels"] == tok.pad_token_id).sum() == 0


def test_grouped_batches_cover_every_example_once_with_one_term_each(encoded):
    _, enc = encoded
    batches = grouped_batches(enc, 16, seed=0)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(enc)))
    assert all(len({enc[i].term for i in b}) == 1 for b in batches)
    assert grouped_batches(enc, 16, seed=0) == batches
    assert grouped_batches(enc, 16, seed=0, epoch=1) != batches


def test_padding_efficiency_is_at_least_090(encoded):
    _, enc = encoded
    grouped = padding_efficiency(enc, grouped_batches(enc, 16, seed=0))
    rand = padding_efficiency(enc, random_batches(len(enc), 16, seed=0))
    assert grouped >= 0.90 > rand


def test_sampler_skips_to_the_data_position(encoded):
    _, enc = encoded
    sampler = EpochBatchSampler(enc, 16, seed=5)
    sampler.set_position(2)
    full = list(sampler)
    sampler.set_position(2, skip=7)
    assert list(sampler) == full[7:] and len(sampler) == len(full) - 7


def test_refine_pairs_batch_efficiently(encoded):
    tok, _ = encoded
    items = load_paper_feedback("sports_understanding", "train")
    enc = encode_pairs(refine_pairs(items), tok, 256, 128)
    assert padding_efficiency(enc, grouped_batches(enc, 16, seed=0)) >= 0.90
    # one pair per record, but for the 109 corrections contradicting the gold (dropped)
    assert Counter(e.term for e in enc) == {"refine": len(items) - 109}


def test_pack_by_tokens_by_hand():
    # Padded size = rows x (longest source + longest target), budget 12:
    # [0, 1]: 2 x (4 + 2) = 12 fits; + 2 would be 3 x 6 = 18; [2, 3]: 2 x (5 + 1) = 12;
    # 4 is longer than the budget (9 + 4 = 13) and goes alone.
    src, tgt = [4, 3, 5, 2, 9, 1], [1, 2, 1, 1, 4, 1]
    assert pack_by_tokens([0, 1, 2, 3, 4, 5], src, tgt, 12) == [[0, 1], [2, 3], [4], [5]]
    assert pack_by_tokens([5, 3, 1], src, tgt, 100) == [[5, 3, 1]]
    assert pack_by_tokens([], src, tgt, 10) == []


def test_token_budget_batches_cover_every_pair_once_within_the_budget(encoded):
    _, enc = encoded
    budget = 2048
    batches = grouped_batches(enc, 16, seed=0, max_tokens=budget)
    assert sorted(i for b in batches for i in b) == list(range(len(enc)))
    for b in batches:
        padded = len(b) * (max(len(enc[i].input_ids) for i in b)
                           + max(len(enc[i].labels) for i in b))
        assert padded <= budget or len(b) == 1
        assert len({enc[i].term for i in b}) == 1
    sizes = {len(b) for b in batches}
    assert len(sizes) > 3  # the number of pairs follows the lengths
    assert grouped_batches(enc, 16, seed=0, max_tokens=budget) == batches
    assert grouped_batches(enc, 16, seed=0, epoch=1, max_tokens=budget) != batches
    assert padding_efficiency(enc, batches) >= 0.90
    flat = random_batches(len(enc), 16, seed=0, examples=enc, max_tokens=budget)
    assert sorted(i for b in flat for i in b) == list(range(len(enc)))


def test_token_budget_sampler_resumes_at_the_same_batch(encoded):
    _, enc = encoded
    sampler = EpochBatchSampler(enc, 16, seed=5, max_tokens=1500)
    sampler.set_position(1)
    full = list(sampler)
    assert sampler.epoch_length(1) == len(full)
    resumed = EpochBatchSampler(enc, 16, seed=5, max_tokens=1500)
    resumed.set_position(1, skip=5)
    assert list(resumed) == full[5:] and len(resumed) == len(full) - 5


def test_a_pair_weight_reaches_the_batch_and_weighs_the_loss_by_hand():
    """data.critic_balance: reweight. Two rows: row 0 one target token, logits [2, 0] on its
    label 0 (CE log(1 + e^-2)); row 1 two tokens, uniform logits (CE log 2 each). Weights 3
    and 0.5: loss = 3 log(1 + e^-2) + 0.5 * 2 log 2, tokens = 3 * 1 + 0.5 * 2 = 4."""
    import math
    from pathlib import Path

    import torch
    from transformers import AutoTokenizer

    from training.data.examples import Pair
    from training.recipe.loss import target_tokens, token_loss_sum

    tok = AutoTokenizer.from_pretrained(Path(__file__).resolve().parents[2] / "models" /
                                        "tiny-base")
    feats = encode_pairs([Pair("a", "b", "error_types", weight=3.0)], tok, 8, 8)
    assert feats[0].weight == 3.0
    batch = PairCollator(0, MULTITASK_TERMS)(feats + [Encoded([5, 1], [7, 1], "error_types")])
    assert batch["weight"].tolist() == [3.0, 1.0]
    assert "weight" not in PairCollator(0, MULTITASK_TERMS)(
        [Encoded([5, 1], [7, 1], "error_types")])
    logits = torch.zeros(2, 2, 2)
    logits[0, 0] = torch.tensor([2.0, 0.0])
    labels = torch.tensor([[0, IGNORE_INDEX], [1, 1]])
    weights = torch.tensor([3.0, 0.5])
    by_hand = 3 * math.log(1 + math.exp(-2)) + 0.5 * 2 * math.log(2)
    assert token_loss_sum(logits, labels, True, weights).item() == pytest.approx(by_hand)
    assert target_tokens(labels, True, weights).item() == pytest.approx(4.0)
    # unweighted: every token counts once
    plain = math.log(1 + math.exp(-2)) + 2 * math.log(2)
    assert token_loss_sum(logits, labels, True).item() == pytest.approx(plain)
    assert target_tokens(labels, True).item() == 3
