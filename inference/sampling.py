"""Sampling seeded per (seed, prompt, sample), never by a shared random stream.

Each sampled sequence gets a 64-bit key from the seed, its prompt's text and its sample index;
step t of that sequence draws its token by inverse CDF from a uniform number that is a pure
function of (key, t) (splitmix64). So a question's samples are the same whatever else is in its
batch, in whichever order, in whichever process of a data-parallel launch, and after a resume:
wsc's votes do not depend on the number of processes. Drawing by inverse CDF samples exactly
softmax(logits / temperature), as ``torch.multinomial`` does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def row_keys(seed: int, prompts: Sequence[str], n: int) -> list[int]:
    """One key per (prompt, sample), prompt-major (the order of generate's rows)."""
    keys = []
    for prompt in prompts:
        for j in range(n):
            h = hashlib.blake2b(f"{seed}\x00{j}\x00{prompt}".encode(), digest_size=8)
            keys.append(int.from_bytes(h.digest(), "little"))
    return keys


def uniforms(keys: Sequence[int], steps: int) -> np.ndarray:
    """U[r, t] in [0, 1): splitmix64 of (key r, step t), 53 bits each."""
    with np.errstate(over="ignore"):
        z = (np.asarray(keys, dtype=np.uint64)[:, None]
             + (np.arange(1, steps + 1, dtype=np.uint64)[None, :] * _GOLDEN))
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def draw(logits: Any, temperature: float, u: Any) -> Any:
    """Token per row from softmax(logits / temperature), by inverse CDF at uniforms ``u``."""
    import torch

    probs = torch.softmax(logits.float() / temperature, dim=-1)
    cdf = probs.double().cumsum(dim=-1)
    target = (u.to(cdf.device, torch.float64) * cdf[:, -1])[:, None]
    return torch.searchsorted(cdf, target, right=True)[:, 0].clamp_(max=logits.shape[-1] - 1)


class KeyedSampler:
    """A logits processor for a causal model's ``generate`` (run greedy): it draws each row's
    token with :func:`draw` and leaves only that token possible."""

    def __init__(self, keys: Sequence[int], temperature: float, steps: int, prompt_width: int,
                 device: Any) -> None:
        import torch

        self.u = torch.from_numpy(uniforms(keys, steps)).to(device)
        self.temperature = temperature
        self.prompt_width = prompt_width

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        step = input_ids.shape[1] - self.prompt_width
        tokens = draw(scores, self.temperature, self.u[:, step])
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(1, tokens[:, None], 0.0)
        return out
