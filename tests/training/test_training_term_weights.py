"""The loss means its weights: token-level normalisation over a whole step, and term weights
as each term's share of the optimizer steps."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
import torch

from training.data.batching import apportion, batch_terms, term_step_batches
from training.data.collate import Encoded
from training.recipe.loss import step_tokens, target_tokens, token_loss_sum
from training.recipe.setup import term_shares


class OneProcess:
    """The accelerator's two members the loss uses, for one process."""

    device = torch.device("cpu")
    num_processes = 1

    @staticmethod
    def reduce(t: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
        return t


def _logits(probs: list[list[float]]) -> torch.Tensor:
    """Two-way logits whose target (index 0) has probability p: CE = -log p."""
    return torch.tensor([[[math.log(p), math.log(1 - p)] for p in row] for row in probs])


def test_step_loss_is_summed_tokens_over_all_tokens_not_a_mean_of_means():
    """Micro-batch A has 3 target tokens at p = 0.5 (CE ln 2 each), B one token at p = 0.25
    (CE 2 ln 2). The step loss is (3 ln 2 + 2 ln 2) / 4 = 1.25 ln 2; the mean of the two
    micro-batch means would be (ln 2 + 2 ln 2) / 2 = 1.5 ln 2."""
    a = {"labels": torch.tensor([[0, 0, 0]])}
    b = {"labels": torch.tensor([[0, -100, -100]])}
    la = token_loss_sum(_logits([[0.5, 0.5, 0.5]]), a["labels"], encoder_decoder=True)
    lb = token_loss_sum(_logits([[0.25, 0.9, 0.9]]), b["labels"], encoder_decoder=True)
    assert float(la) == pytest.approx(3 * math.log(2))
    assert float(lb) == pytest.approx(2 * math.log(2))  # padding carries no loss
    tokens = step_tokens([a, b], True, OneProcess())
    assert float(tokens) == 4
    assert float((la + lb) / tokens) == pytest.approx(1.25 * math.log(2))
    assert float((la + lb) / tokens) != pytest.approx((float(la) / 3 + float(lb)) / 2)


def test_causal_tokens_are_counted_after_the_shift():
    labels = torch.tensor([[-100, -100, 7, 8, 1], [-100, 9, 1, -100, -100]])
    assert int(target_tokens(labels, encoder_decoder=False)) == 5
    assert int(target_tokens(labels, encoder_decoder=True)) == 5
    # The first position is never a causal target: a label there is dropped by the shift.
    assert int(target_tokens(torch.tensor([[4, 5]]), encoder_decoder=False)) == 1


def test_gradient_of_the_step_equals_one_batch_of_all_its_tokens():
    """Two micro-batches of 1 and 3 target tokens, back-propagated with the loop's scale,
    give the gradient of the token mean over the four tokens as one batch."""
    torch.manual_seed(0)
    w = torch.randn(3, 5, requires_grad=True)
    x = torch.randn(2, 4, 3)
    labels = [torch.tensor([[1, -100, -100, -100]]), torch.tensor([[2, 0, 4, -100]])]
    group = [{"labels": lab} for lab in labels]
    tokens = step_tokens(group, True, OneProcess())
    for i, lab in enumerate(labels):
        (token_loss_sum(x[i:i + 1] @ w, lab, True) * (1 / tokens)).backward()
    ours = w.grad.clone()
    w.grad = None
    full = torch.cat(labels)
    torch.nn.functional.cross_entropy((x @ w).transpose(1, 2), full, ignore_index=-100
                                      ).backward()
    assert torch.allclose(ours, w.grad, atol=1e-6)


def _encoded(term: str, n: int, src: int = 4, tgt: int = 3) -> list[Encoded]:
    return [Encoded([5] * src, [7] * tgt, term) for _ in range(n)]


def test_steps_are_one_term_and_shared_by_weight():
    """30 answer pairs (long), 12 error-type pairs and 6 description pairs, batches of 3:
    10 + 4 + 2 = 16 batches. Weights 2 : 1 : 1: the answer term's 10 batches need 5 steps of
    2 batches at half the steps, so the epoch has 10 steps, 5 / 3 / 2 (largest remainder, ties
    by name): every batch of every term at least once, none cut."""
    examples = (_encoded("answer", 30, 9, 20) + _encoded("error_types", 12, 9, 2)
                + _encoded("description", 6))
    shares = term_shares({"answer", "error_types", "description"},
                         {"answer": 2.0, "error_types": 1.0, "description": 1.0}, 0.0)
    assert shares == {"answer": 0.5, "description": 0.25, "error_types": 0.25}
    batches = term_step_batches(examples, 3, seed=0, shares=shares, group=2)
    assert len(batches) == 20 and all(len(b) == 3 for b in batches)
    terms = batch_terms(examples, batches)
    steps = [terms[i:i + 2] for i in range(0, 20, 2)]
    assert all(len(set(s)) == 1 for s in steps)  # one term per step
    assert Counter(s[0] for s in steps) == {"answer": 5, "error_types": 2, "description": 3}
    # Every pair of every term is in the epoch (nothing cut).
    seen = {i for b in batches for i in b}
    assert seen == set(range(len(examples)))
    # Each answer batch once; the 2 description batches fill 6 batches: each three times.
    answer = Counter(tuple(b) for b, t in zip(batches, terms, strict=True) if t == "answer")
    assert sorted(answer.values()) == [1] * 10
    desc = Counter(tuple(b) for b, t in zip(batches, terms, strict=True) if t == "description")
    assert sorted(desc.values()) == [3, 3]
    # Deterministic in (seed, epoch), different across epochs.
    assert batches == term_step_batches(examples, 3, seed=0, shares=shares, group=2)
    assert batches != term_step_batches(examples, 3, seed=0, shares=shares, group=2, epoch=1)


def test_replay_share_and_unweighted_terms():
    assert term_shares({"answer", "replay"}, {"answer": 1.0}, 0.25) == {
        "answer": 0.75, "replay": 0.25}
    assert term_shares({"chain"}, {"answer": 1.0}, 0.0) == {"chain": 1.0}
    assert apportion(3, {"a": 0.5, "b": 0.5}) == {"a": 2, "b": 1}
    with pytest.raises(ValueError, match="no share for term"):
        term_step_batches(_encoded("answer", 3), 1, 0, {"refine": 1.0}, group=2)


def test_a_small_run_follows_its_weights(make_cfg, tmp_path):
    """Weights 3 : 1 : 0 on a real run: three quarters of the steps train answers, a quarter
    error types, none descriptions (run.json's term mix, counted from the sampler)."""
    from training.recipe.objectives import train

    out = tmp_path / "weighted"
    train(make_cfg("multitask", out=out, **{
        "data.term_weights": {"answer": 3.0, "error_types": 1.0, "description": 0.0},
        "train.max_steps": 8}))
    run = json.loads((out / "run.json").read_text())
    assert run["term_shares"] == {"answer": 0.75, "error_types": 0.25}
    mix = run["term_mix"]
    assert set(mix) == {"answer", "error_types"}
    assert mix["answer"]["steps"] + mix["error_types"]["steps"] == 8
    # Each epoch's steps are apportioned 3 : 1 (largest remainder), so 6 or 7 of 8.
    assert mix["answer"]["steps"] in (6, 7)
    # Every record has an error-type pair; an answer pair unless its correction contradicts
    # the gold answer (data.contradicting_corrections: drop).
    by_term = run["counts"]["pairs_train_by_term"]
    assert by_term["error_types"] - by_term["answer"] == \
        run["counts"]["contradicting_corrections"]["records"] > 0
