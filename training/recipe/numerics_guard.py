"""The numerics guard of the training loop.

Numerics guard. After the gradients of a step are complete the loop forms one flag on the
device, "this step's loss or gradient norm is not finite" (and, with several processes,
the flag of any of them). Two ways to act on it:

- the optimizer is fused AdamW (CUDA): the flag goes into the optimizer as ``found_inf``, so
  a bad step leaves weights and AdamW state untouched *on the device*, without a host sync;
  the host reads the flags at every log line, before every checkpoint and before
  ``final/``. No weights written can hold a bad step, and a run with more bad steps than
  ``train.max_nonfinite_skips`` stops at the next read, naming the first bad step.
- any other optimizer (CPU, where reading a flag costs nothing; DeepSpeed; fp16 autocast):
  the host reads the flag once per step, before ``optimizer.step()``, and skips the step.

Either way a skipped step still counts as a step (the schedule moves on), is logged as
``train/nonfinite_step``, and a run stopped by the guard raises :class:`NonFiniteError`,
keeps its last checkpoint and writes no ``final/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class NonFiniteError(RuntimeError):
    """The loss or gradient norm went non-finite more often than allowed."""


class NumericsGuard:
    """Flags steps with a non-finite loss or gradient norm; see the module docstring."""

    def __init__(self, accelerator: Any, optimizer: Any, logger: Any, max_skips: int,
                 check_grad_norm: bool = True, log: Callable[[str], None] = print) -> None:
        self.accelerator = accelerator
        self.logger = logger
        self.max_skips = max_skips
        self.check_grad_norm = check_grad_norm
        self.log = log
        inner = getattr(optimizer, "optimizer", optimizer)
        # Fused AdamW reads `found_inf` and leaves weights and state alone where it is set.
        self.on_device = (check_grad_norm and accelerator.device.type == "cuda"
                          and bool(getattr(inner, "defaults", {}).get("fused")))
        self.inner = inner
        self.pending: list[tuple[int, torch.Tensor]] = []  # (step, flag) not yet read
        self.skipped: list[int] = []

    def _flag(self, loss: torch.Tensor, grad_norm: Any) -> torch.Tensor:
        bad = ~torch.isfinite(loss)
        if self.check_grad_norm and isinstance(grad_norm, torch.Tensor):
            bad = bad | ~torch.isfinite(grad_norm.to(loss.device))
        bad = bad.float()
        if self.accelerator.num_processes > 1:  # every process skips the same steps
            bad = (self.accelerator.reduce(bad, reduction="sum") > 0).float()
        return bad

    def step_ok(self, step: int, loss: torch.Tensor, grad_norm: Any) -> bool:
        """Whether the optimizer may step; on the device path always True (it skips itself)."""
        bad = self._flag(loss, grad_norm)
        if self.on_device:
            self.inner.found_inf = bad
            self.pending.append((step, bad))
            return True
        if bad.item():  # CPU: a read without a device to wait for
            self._record([step])
            return False
        return True

    def _record(self, steps: list[int]) -> None:
        for s in steps:
            self.logger.log({"train/nonfinite_step": s}, s)
            self.skipped.append(s)
            if len(self.skipped) > self.max_skips:
                raise NonFiniteError(
                    f"non-finite loss or gradient norm at step {s}; stopping (allowed skips: "
                    f"train.max_nonfinite_skips={self.max_skips}); the last checkpoint is "
                    f"kept and no final/ is written")
            self.log(f"step {s}: non-finite loss or gradient norm, step skipped "
                     f"({len(self.skipped)} of {self.max_skips} allowed)")

    def check(self) -> None:
        """Read the flags still on the device (one sync); raise if too many steps were bad."""
        if not self.pending:
            return
        flags = torch.stack([f for _, f in self.pending]).tolist()
        bad = [s for (s, _), f in zip(self.pending, flags, strict=True) if f]
        self.pending = []
        self._record(bad)
