"""Training metrics since the last log line, summed on the device (no host sync per step).

``train/loss`` is the window's summed target-token loss over its target tokens, the same
normalisation as the step's loss (:mod:`training.recipe.loss`)."""

from __future__ import annotations

import time
from typing import Any

import torch


class Window:
    """Training metrics since the last log line, summed on the device."""

    def __init__(self, device: torch.device, decoder_only: bool = False) -> None:
        self.device = device
        self.decoder_only = decoder_only  # prompt and target are one sequence
        self.reset()

    def reset(self) -> None:
        self.sums = torch.zeros(4, dtype=torch.float64, device=self.device)
        self.start = time.perf_counter()

    def add(self, loss_sum: torch.Tensor, micro: dict[str, torch.Tensor],
            encoder_decoder: bool = True) -> None:
        """One micro-batch: its summed target-token loss; no host sync."""
        from training.recipe.loss import target_tokens

        self.sums[0] += loss_sum.detach().double()
        self.sums[1] += target_tokens(micro["labels"], encoder_decoder, micro.get("weight"))
        # real source + target tokens processed, and pairs (throughput)
        self.sums[2] += micro["attention_mask"].sum()
        if not self.decoder_only:
            self.sums[2] += (micro["labels"] != -100).sum()
        self.sums[3] += micro["input_ids"].shape[0]

    def read(self, accelerator: Any) -> dict[str, float]:
        """The window's loss per target token (every process), and throughput."""
        totals = accelerator.reduce(self.sums.clone(), reduction="sum").tolist()
        elapsed = time.perf_counter() - self.start
        self.reset()
        loss, targets, tokens, pairs = totals
        return {"train/loss": loss / max(1.0, targets), "train/examples_per_s": pairs / elapsed,
                "train/tokens_per_s": tokens / elapsed, "train/window_s": elapsed}
