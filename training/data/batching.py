"""Length-grouped batches: same instruction, then similar source and target lengths.

Sorting by total length alone leaves ~0.64 of the tokens real on the paper's pairs, because
encoder and decoder lengths pull apart across instructions. Grouping by term first, then
sorting by source length and, within windows of a few batches, by target length keeps about
0.95 real (measured on the paper's pairs with the tiny model's tokenizer, batch 16).

Batches are sized either by a fixed number of pairs (``batch_size``) or by a token budget
(``max_tokens``: padded source + target tokens per batch, i.e. rows x (longest source +
longest target); a decoder-only row is one sequence, prompt and target together), in which
case the number of pairs per batch follows from their lengths: many short answer pairs, few
long description pairs, about the same compute and memory each.

Term weights (:func:`term_step_batches`): every optimizer step trains one term, i.e. the
``group`` consecutive batches of a step (grad_accum micro-batches on each of the processes,
which accelerate hands batch ``k * processes + rank``) are all of one term, and the steps are
shared out among the terms by their weights (largest remainder). No term's data is cut: the
epoch holds enough steps (:func:`epoch_steps`) that every term with a positive share gets at
least the steps its own batches fill, and a term with more steps than batches cycles them
(reshuffled each pass). So every pair is seen every epoch, and with the loop's loss (summed
target tokens over their number, across the whole step), a term's share of the gradient over
an epoch is its weight's share, whatever its pairs' lengths or count.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterator, Mapping, Sequence

from torch.utils.data import Sampler

from training.data.collate import Encoded

# Batches sorted together by source length; inside, sorted again by target length.
WINDOW_BATCHES = 16


def pack_by_tokens(order: Sequence[int], src_lens: Sequence[int], tgt_lens: Sequence[int],
                   max_tokens: int) -> list[list[int]]:
    """Cut ``order`` into consecutive batches whose padded size, rows x (longest source +
    longest target), stays within ``max_tokens``; a pair longer than the budget goes alone.

    >>> pack_by_tokens([0, 1, 2, 3], [3, 4, 2, 9], [1, 1, 1, 2], max_tokens=10)
    [[0, 1], [2], [3]]
    """
    batches: list[list[int]] = []
    current: list[int] = []
    longest_src = longest_tgt = 0
    for i in order:
        src, tgt = max(longest_src, src_lens[i]), max(longest_tgt, tgt_lens[i])
        if current and (len(current) + 1) * (src + tgt) > max_tokens:
            batches.append(current)
            current, src, tgt = [], src_lens[i], tgt_lens[i]
        current.append(i)
        longest_src, longest_tgt = src, tgt
    if current:
        batches.append(current)
    return batches


def _cut(chunk: list[int], examples: Sequence[Encoded], batch_size: int,
         max_tokens: int) -> list[list[int]]:
    if max_tokens > 0:
        return pack_by_tokens(chunk, [e.source_len for e in examples],
                              [e.target_len for e in examples], max_tokens)
    return [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]


def rows_per_batch(examples: Sequence[Encoded], batch_size: int, max_tokens: int) -> int:
    """Pairs per batch: batch_size, or what a token budget holds at the median length."""
    if max_tokens <= 0 or not examples:
        return batch_size
    typical = statistics.median(e.source_len + e.target_len for e in examples)
    return max(1, int(max_tokens // typical))


def _shuffled_by_term(examples: Sequence[Encoded], seed: int, epoch: int
                      ) -> tuple[random.Random, dict[str, list[int]]]:
    """The epoch's generator (seeded by seed and epoch) and the indices of each term in a
    shuffled order (random ties, a different grouping every epoch)."""
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(examples)))
    rng.shuffle(order)
    by_term: dict[str, list[int]] = {}
    for i in order:
        by_term.setdefault(examples[i].term, []).append(i)
    return rng, by_term


def grouped_batches(examples: Sequence[Encoded], batch_size: int, seed: int,
                    epoch: int = 0, window: int = WINDOW_BATCHES,
                    max_tokens: int = 0) -> list[list[int]]:
    """Indices in batches of one term and similar lengths; the batch order is shuffled.

    With ``max_tokens`` > 0 the batches are packed to that many padded tokens instead of
    holding ``batch_size`` pairs each.
    """
    rng, by_term = _shuffled_by_term(examples, seed, epoch)
    batches: list[list[int]] = []
    for term in sorted(by_term):
        idx = sorted(by_term[term], key=lambda i: len(examples[i].input_ids))
        rows = rows_per_batch([examples[i] for i in idx], batch_size, max_tokens)
        # A window as large as the term would undo the sort by source length.
        span = rows * max(1, min(window, len(idx) // (rows * 4)))
        for start in range(0, len(idx), span):
            chunk = sorted(idx[start:start + span], key=lambda i: len(examples[i].labels))
            batches.extend(_cut(chunk, examples, batch_size, max_tokens))
    rng.shuffle(batches)
    return batches


def random_batches(n: int, batch_size: int, seed: int, epoch: int = 0,
                   examples: Sequence[Encoded] = (), max_tokens: int = 0) -> list[list[int]]:
    """Shuffled batches with no grouping (``examples`` is needed only with ``max_tokens``)."""
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(n))
    rng.shuffle(order)
    return _cut(order, examples, batch_size, max_tokens)


def padding_efficiency(examples: Sequence[Encoded], batches: Sequence[Sequence[int]]) -> float:
    """Real tokens over tokens processed, encoder and decoder together."""
    real = padded = 0
    for b in batches:
        src = [examples[i].source_len for i in b]
        tgt = [examples[i].target_len for i in b]
        real += sum(src) + sum(tgt)
        padded += len(b) * (max(src) + max(tgt))
    return real / padded if padded else 1.0


def apportion(total: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Split ``total`` items among keys by ``shares`` (largest remainder; ties by name).

    >>> apportion(10, {"a": 1.0, "b": 1.0, "c": 1.0})
    {'a': 4, 'b': 3, 'c': 3}
    >>> apportion(7, {"answer": 0.5, "replay": 0.25, "x": 0.25})
    {'answer': 3, 'replay': 2, 'x': 2}
    """
    weight = sum(shares.values())
    if weight <= 0:
        raise ValueError(f"shares must have a positive sum, got {dict(shares)}")
    exact = {k: total * v / weight for k, v in shares.items()}
    out = {k: math.floor(x) for k, x in exact.items()}
    left = total - sum(out.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - out[k]), k))[:left]:
        out[k] += 1
    return dict(sorted(out.items()))


def epoch_steps(batches: Mapping[str, int], shares: Mapping[str, float], group: int = 1
                ) -> dict[str, int]:
    """Steps per term for one epoch: the fewest steps, apportioned by ``shares``, in which
    every term with a positive share gets at least ceil(its batches / group) steps (none of
    its batches cut), and never fewer steps in all than the batches fill.

    >>> epoch_steps({"answer": 10, "error_types": 4, "description": 2},
    ...             {"answer": 0.5, "error_types": 0.25, "description": 0.25}, group=2)
    {'answer': 5, 'description': 3, 'error_types': 2}
    >>> epoch_steps({"answer": 2, "error_types": 6}, {"answer": 0.5, "error_types": 0.5})
    {'answer': 6, 'error_types': 6}
    """
    need = {t: math.ceil(n / group) for t, n in batches.items()}
    total = sum(shares[t] for t in batches)
    if total <= 0:
        raise ValueError(f"shares must have a positive sum, got {dict(shares)}")
    steps = math.ceil(sum(batches.values()) / group)
    for t, n in need.items():
        if shares[t] > 0:
            steps = max(steps, math.ceil(n * total / shares[t] - 1e-9))
    while True:
        per_term = apportion(steps, {t: shares[t] for t in batches})
        if all(per_term[t] >= need[t] for t in batches if shares[t] > 0):
            return per_term
        steps += 1


def _term_batches(examples: Sequence[Encoded], idx: list[int], batch_size: int,
                  rng: random.Random, group_by_length: bool, max_tokens: int,
                  window: int) -> list[list[int]]:
    """One term's batches, unshuffled: sorted by length in windows, or in random order."""
    if not group_by_length:
        order = list(idx)
        rng.shuffle(order)
        return _cut(order, examples, batch_size, max_tokens)
    idx = sorted(idx, key=lambda i: len(examples[i].input_ids))
    rows = rows_per_batch([examples[i] for i in idx], batch_size, max_tokens)
    # A window as large as the term would undo the sort by source length.
    span = rows * max(1, min(window, len(idx) // (rows * 4)))
    batches: list[list[int]] = []
    for start in range(0, len(idx), span):
        chunk = sorted(idx[start:start + span], key=lambda i: len(examples[i].labels))
        batches.extend(_cut(chunk, examples, batch_size, max_tokens))
    return batches


def term_step_batches(examples: Sequence[Encoded], batch_size: int, seed: int,
                      shares: Mapping[str, float], group: int = 1, epoch: int = 0,
                      group_by_length: bool = True, window: int = WINDOW_BATCHES,
                      max_tokens: int = 0) -> list[list[int]]:
    """One epoch's batches in steps of ``group`` batches of one term, the steps shared out
    by ``shares`` (a term of the examples missing from ``shares`` is an error).

    The epoch holds :func:`epoch_steps`: every batch of every term with a positive share at
    least once. A single term with ``group`` 1 gives exactly :func:`grouped_batches` (or
    :func:`random_batches`).
    """
    rng, by_term = _shuffled_by_term(examples, seed, epoch)
    missing = sorted(set(by_term) - set(shares))
    if missing:
        raise ValueError(f"no share for term(s) {missing}")
    if len(by_term) == 1 and group == 1:
        if group_by_length:
            return grouped_batches(examples, batch_size, seed, epoch, window, max_tokens)
        return random_batches(len(examples), batch_size, seed, epoch, examples, max_tokens)
    made = {t: _term_batches(examples, by_term[t], batch_size, rng, group_by_length,
                             max_tokens, window) for t in sorted(by_term)}
    per_term = epoch_steps({t: len(b) for t, b in made.items()}, shares, group)
    labels = [t for t in sorted(per_term) for _ in range(per_term[t])]
    rng.shuffle(labels)
    pools: dict[str, list[list[int]]] = {t: [] for t in made}
    out: list[list[int]] = []
    for term in labels:
        for _ in range(group):
            if not pools[term]:  # the next pass over this term's batches, reshuffled
                pools[term] = rng.sample(made[term], len(made[term]))
            out.append(pools[term].pop())
    return out


def batch_terms(examples: Sequence[Encoded], batches: Sequence[Sequence[int]]) -> list[str]:
    """The term of each batch (its first row's)."""
    return [examples[b[0]].term for b in batches]


class EpochBatchSampler(Sampler[list[int]]):
    """Yields one epoch's batches, deterministic in (seed, epoch); ``skip`` resumes mid-epoch.

    The recipe calls ``set_position(e, skip=k)`` before iterating, so a resumed run sees exactly
    the batches an uninterrupted run would have seen from batch k of epoch e on. With a token
    budget the number of batches can differ between epochs: ``epoch_length`` gives it.
    """

    def __init__(self, examples: Sequence[Encoded], batch_size: int, seed: int,
                 group_by_length: bool = True, max_tokens: int = 0,
                 shares: Mapping[str, float] | None = None, group: int = 1) -> None:
        self.examples = examples
        # Not named batch_size: accelerate's batch-sampler sharding reads ``batch_size`` and
        # then expects every batch at the last rank's turn to be that long, deferring or
        # refilling the others (batches here vary: token budgets, a term's last batch).
        self.rows = batch_size
        self.seed = seed
        self.group_by_length = group_by_length
        self.max_tokens = max_tokens
        self.shares = dict(shares) if shares is not None else None
        self.group = group
        self.epoch = 0
        self.skip = 0
        self._cache: tuple[int, list[list[int]]] | None = None

    def set_position(self, epoch: int, skip: int = 0) -> None:
        # Not named set_epoch: accelerate calls set_epoch(<its own iteration count>) on
        # batch samplers, which would reset the resume position.
        self.epoch, self.skip = epoch, skip

    def batches(self, epoch: int | None = None) -> list[list[int]]:
        epoch = self.epoch if epoch is None else epoch
        if self._cache is None or self._cache[0] != epoch:
            if self.shares is not None:
                made = term_step_batches(self.examples, self.rows, self.seed,
                                         self.shares, self.group, epoch,
                                         self.group_by_length, max_tokens=self.max_tokens)
            elif self.group_by_length:
                made = grouped_batches(self.examples, self.rows, self.seed, epoch,
                                       max_tokens=self.max_tokens)
            else:
                made = random_batches(len(self.examples), self.rows, self.seed, epoch,
                                      self.examples, self.max_tokens)
            self._cache = (epoch, made)
        return self._cache[1]

    def epoch_length(self, epoch: int) -> int:
        """Batches in ``epoch`` (all of them, whatever the skip)."""
        return len(self.batches(epoch))

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches()[self.skip:]

    def __len__(self) -> int:
        return max(0, len(self.batches()) - self.skip)
