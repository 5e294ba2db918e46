"""Held-out loss, overall and per term (the multitask loss is the sum over its terms)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from training.data.collate import IGNORE_INDEX, loss_aligned


@torch.no_grad()
def evaluate(model: Any, loader: Any, accelerator: Any, terms: Sequence[str]) -> dict[str, float]:
    """Token-mean cross-entropy on the held-out batches: eval/loss, eval/loss_<term>, and
    eval/loss_sum (the sum of the per-term losses)."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros(len(terms), dtype=torch.float64, device=accelerator.device)
    tokens = torch.zeros(len(terms), dtype=torch.float64, device=accelerator.device)
    encoder_decoder = bool(accelerator.unwrap_model(model).config.is_encoder_decoder)
    for batch in loader:
        term = batch.pop("term")
        batch.pop("weight", None)  # held-out losses are per token, unweighted
        logits, labels = loss_aligned(model(**batch).logits.float(), batch["labels"],
                                      encoder_decoder)
        ce = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE_INDEX,
                             reduction="none")
        per_row = ce.sum(dim=1).double()
        n_row = (labels != IGNORE_INDEX).sum(dim=1).double()
        loss_sum.index_add_(0, term, per_row)
        tokens.index_add_(0, term, n_row)
    loss_sum = accelerator.reduce(loss_sum, reduction="sum")
    tokens = accelerator.reduce(tokens, reduction="sum")
    metrics = {"eval/loss": float(loss_sum.sum() / tokens.sum().clamp(min=1))}
    present = [i for i in range(len(terms)) if tokens[i] > 0]
    for i in present:
        metrics[f"eval/loss_{terms[i]}"] = float(loss_sum[i] / tokens[i])
    if len(present) > 1:
        metrics["eval/loss_sum"] = sum(metrics[f"eval/loss_{terms[i]}"] for i in present)
    if was_training:
        model.train()
    return metrics
