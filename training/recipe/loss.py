"""The step's loss: summed token losses over the step's target tokens, on every process.

A step is ``grad_accum`` micro-batches on each of N processes. Its loss is

    L = (sum over every target token t of the step, on every process, of -log p(t)) / T

with T the number of those tokens (with ``data.critic_balance: reweight`` each pair's tokens
count its weight, in the sum and in T: a weighted mean), so every target token of the step
counts the same, whatever micro-batch or process it is in (a mean of per-micro-batch means
would weigh a token of a short batch more than one of a long batch). DDP averages gradients
over the N processes, so each process back-propagates ``N / T`` times its own token-loss sum;
T comes from one all-reduce of the token counts per step, which stays on the device.

Which term a step trains, and so each term's share of the gradient, is the sampler's
(:func:`training.data.batching.term_step_batches`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from training.data.collate import IGNORE_INDEX, loss_aligned


def target_tokens(labels: torch.Tensor, encoder_decoder: bool,
                  weights: torch.Tensor | None = None) -> torch.Tensor:
    """How many target tokens a batch's labels hold (after the causal shift); with row
    ``weights`` (data.critic_balance: reweight), each row's tokens count its weight."""
    if not encoder_decoder:
        labels = labels[:, 1:]
    if weights is None:
        return (labels != IGNORE_INDEX).sum()
    return ((labels != IGNORE_INDEX).sum(dim=1).to(weights.dtype) * weights).sum()


def token_loss_sum(logits: torch.Tensor, labels: torch.Tensor, encoder_decoder: bool,
                   weights: torch.Tensor | None = None) -> torch.Tensor:
    """The sum of the target tokens' cross-entropies (padding and prompt never count); with
    row ``weights``, each row's tokens weigh its weight."""
    logits, labels = loss_aligned(logits, labels, encoder_decoder)
    if weights is None:
        return F.cross_entropy(logits.float().transpose(1, 2), labels,
                               ignore_index=IGNORE_INDEX, reduction="sum")
    per_token = F.cross_entropy(logits.float().transpose(1, 2), labels,
                                ignore_index=IGNORE_INDEX, reduction="none")
    return (per_token.sum(dim=1) * weights.to(per_token.dtype)).sum()


def step_tokens(group: Sequence[dict[str, torch.Tensor]], encoder_decoder: bool,
                accelerator: Any) -> torch.Tensor:
    """T: the target tokens of the whole step, summed over its micro-batches and processes
    (at least 1, so an all-padding step cannot divide by zero)."""
    local = sum(target_tokens(m["labels"], encoder_decoder, m.get("weight")) for m in group)
    total = accelerator.reduce(torch.as_tensor(local, device=accelerator.device).double(),
                               reduction="sum")
    return total.clamp(min=1)
