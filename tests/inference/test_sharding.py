"""The data-parallel pieces without a launch: the batch plan, the round-robin share, the gather
(processes simulated by threads meeting at a barrier), sampling seeded per prompt, and the one
error of a gather whose peer is gone. The real two-process launches are in
test_data_parallel.py."""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from inference.backends import Backend
from inference.sampling import draw, row_keys, uniforms
from inference.sharding import DataParallel, LaunchAborted, plan_batches, run_batches

PROMPTS = ["Q: Is water wet?\nA:", "Q: Did Aristotle use a laptop?\nA:", "hi",
           "Q: Lionel Messi scored a penalty kick. Is this sentence plausible?\nA:",
           "Q: Could a llama birth twice during the War in Vietnam (1945-46)?\nA:"]


def test_plan_batches_sorts_within_windows_longest_first():
    assert plan_batches([1, 5, 3, 2], 2) == [[1, 2], [3, 0]]
    assert plan_batches([1, 5, 3, 2], 2, window=2) == [[1, 0], [2, 3]]
    assert plan_batches([3, 3, 3], 2) == [[0, 1], [2]]  # ties keep their order
    assert plan_batches([], 4) == []
    plan = plan_batches(list(range(10)), 3, window=4)
    assert sorted(i for b in plan for i in b) == list(range(10))  # every item exactly once
    with pytest.raises(ValueError, match="batch size must be >= 1"):
        plan_batches([1], 0)


def test_each_batch_goes_to_exactly_one_process():
    for world in (1, 2, 3, 7):
        owners = Counter(b for r in range(world) for b in DataParallel(r, world).mine(5))
        assert owners == Counter(range(5)), world
    assert DataParallel(3, 7).mine(2) == []  # more processes than batches: nothing to run


@dataclass
class ThreadWorld:
    """``world`` ranks as threads; gather meets at a barrier and merges what each holds."""

    world: int
    parts: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.barrier = threading.Barrier(self.world)

    def rank(self, r: int) -> DataParallel:
        world = self

        class Rank(DataParallel):
            def gather(self, mine, what):
                world.parts[(what, r)] = mine
                world.barrier.wait(timeout=60)
                merged = {}
                for (w, _), part in list(world.parts.items()):
                    if w == what:
                        merged.update(part)
                world.barrier.wait(timeout=60)
                return merged

        return Rank(rank=r, world=self.world)

    def run(self, fn):
        """fn(dp) on every rank at once; every rank's result."""
        out: list = [None] * self.world
        errors: list = []

        def go(r: int) -> None:
            try:
                out[r] = fn(self.rank(r))
            except Exception as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=go, args=(r,)) for r in range(self.world)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        return out


def test_run_batches_gathers_in_the_original_order():
    batches = plan_batches([len(p) for p in PROMPTS], 2)
    single = run_batches(DataParallel(), batches, lambda idx: [PROMPTS[i].upper() for i in idx],
                         len(PROMPTS), "test")
    assert single == [p.upper() for p in PROMPTS]
    for world in (2, 4, 6):  # 6 > 3 batches: some processes only gather
        assert _upper_on(world, batches) == (single, sorted(batches))


def _upper_on(world: int, batches: list[list[int]]) -> tuple[list[str], list[list[int]]]:
    """Every rank's gathered result (all equal) and the batches that ran, sorted."""
    ran: list[list[int]] = []

    def upper(idx: list[int]) -> list[str]:
        ran.append(idx)
        return [PROMPTS[i].upper() for i in idx]

    outs = ThreadWorld(world).run(lambda dp: run_batches(dp, batches, upper, len(PROMPTS),
                                                         "test"))
    assert all(o == outs[0] for o in outs)
    return outs[0], sorted(ran)


@pytest.mark.parametrize("which", ["tiny_t5", "tiny_causal"])
def test_generate_and_score_on_three_processes_equal_one(which, request):
    """Greedy and sampled generation and scoring, each process running its share of the
    batches: the same texts and numbers as one process."""
    path: Path = request.getfixturevalue(which)
    models = [Backend.load(path, batch_size=2) for _ in range(3)]

    def work(backend: Backend):
        return (backend.generate(PROMPTS, max_new_tokens=4),
                backend.generate(PROMPTS, do_sample=True, temperature=0.8,
                                 num_return_sequences=2, max_new_tokens=4, seed=4),
                backend.score_choices(PROMPTS, ["no error", "missing facts"]))

    single = work(models[0])

    def on_rank(dp: DataParallel):
        backend = models[dp.rank]
        backend.dp = dp
        return work(backend)

    for got in ThreadWorld(3).run(on_rank):
        assert got[0] == single[0] and got[1] == single[1]
        assert got[2] == single[2]


@pytest.mark.parametrize("which", ["tiny_t5", "tiny_causal"])
def test_samples_are_seeded_per_prompt_not_by_batch_or_order(which, request):
    backend = Backend.load(request.getfixturevalue(which), batch_size=4)
    kw = dict(do_sample=True, temperature=0.9, num_return_sequences=3, max_new_tokens=5,
              seed=11)
    together = backend.generate(PROMPTS, **kw)
    assert backend.generate(PROMPTS[::-1], **kw)[::-1] == together
    assert [backend.generate([p], **kw)[0] for p in PROMPTS[:2]] == together[:2]
    assert backend.generate(PROMPTS, **kw | {"seed": 12}) != together
    assert all(len(set(s)) > 1 for s in together)  # the n samples differ


def test_draw_samples_the_softmax():
    """Inverse-CDF draws at 40,000 keyed uniforms hit each token as often as
    softmax(logits / T) says (within 4 standard errors)."""
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, -30.0]])
    temperature, n = 0.7, 40_000
    u = torch.from_numpy(uniforms(row_keys(0, ["p"], n), 1)[:, 0])
    tokens = draw(logits.expand(n, -1), temperature, u)
    freq = torch.bincount(tokens, minlength=5).double() / n
    want = torch.softmax(logits[0] / temperature, -1).double()
    assert torch.all((freq - want).abs() <= 4 * torch.sqrt(want * (1 - want) / n) + 1e-12)
    assert freq[4] == 0.0


def test_uniforms_are_a_pure_function_of_key_and_step():
    a = uniforms([1, 2, 3], 5)
    assert a.shape == (3, 5) and ((a >= 0) & (a < 1)).all()
    assert np.array_equal(a, uniforms([1, 2, 3], 5)) and np.array_equal(a[1:], uniforms(
        [2, 3], 5)) and np.array_equal(a[:, :2], uniforms([1, 2, 3], 2))
    assert len({float(x) for x in a.ravel()}) == 15
    keys = row_keys(0, ["a", "b"], 2)
    assert len(set(keys)) == 4 and keys == row_keys(0, ["a", "b"], 2)
    assert abs(float(uniforms(row_keys(0, ["q"], 10_000), 1).mean()) - 0.5) < 0.02
    assert not math.isnan(float(a.sum()))


def test_a_gather_whose_peer_is_gone_is_one_line(monkeypatch):
    import torch.distributed as dist

    def closed(parts, mine):
        raise RuntimeError("[../gloo/transport/tcp/pair.cc:553] Connection closed by peer "
                           "[127.0.0.1]:8323\nmore")

    monkeypatch.setattr(dist, "all_gather_object", closed)
    with pytest.raises(LaunchAborted) as info:
        DataParallel(rank=0, world=2).gather({}, "generate (cot strategyqa)")
    assert str(info.value) == (
        "process 0 of 2: another process of this launch stopped during generate (cot "
        "strategyqa) ([../gloo/transport/tcp/pair.cc:553] Connection closed by peer "
        "[127.0.0.1]:8323)")
