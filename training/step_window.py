"""Training metrics since the last log line, summed on the device (no host sync per step)."""

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
        self.sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        self.micro_batches = 0
        self.start = time.perf_counter()

    def add(self, loss: torch.Tensor, micro: dict[str, torch.Tensor]) -> None:
        # loss, real source + target tokens, pairs; no host sync (shapes are host-side).
        self.sums[0] += loss.detach().double()
        self.sums[1] += micro["attention_mask"].sum()
        if not self.decoder_only:
            self.sums[1] += (micro["labels"] != -100).sum()
        self.sums[2] += micro["input_ids"].shape[0]
        self.micro_batches += 1

    def read(self, accelerator: Any) -> dict[str, float]:
        """Mean loss over the window's micro-batches (every process), and throughput."""
        counts = torch.tensor([self.micro_batches], dtype=torch.float64, device=self.device)
        totals = accelerator.reduce(torch.cat([self.sums, counts]), reduction="sum").tolist()
        elapsed = time.perf_counter() - self.start
        self.reset()
        loss, tokens, pairs, n = totals
        return {"train/loss": loss / max(1.0, n), "train/examples_per_s": pairs / elapsed,
                "train/tokens_per_s": tokens / elapsed, "train/window_s": elapsed}
