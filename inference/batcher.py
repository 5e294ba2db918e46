"""Micro-batching for the service: concurrent requests share one generate call.

Each model gets one worker thread and a bounded queue. A request's generate or score call is
queued as a job; the worker takes the first job, waits up to ``max_wait_ms`` for more (until
``max_rows`` prompts), runs every job with the same decoding settings as ONE call, and hands
each job its rows. A full queue refuses at once (:class:`ServiceBusy`, a 503 with Retry-After)
instead of letting latency grow without bound.

:class:`BatchedModel` and :class:`LockedModel` wrap a loaded model with the same
``generate`` / ``score_choices`` as the model itself, so the methods run on them unchanged;
``LockedModel`` is the design before micro-batching (one call at a time behind a lock), kept
as ``rhf serve --no-batching`` and as the baseline of scripts/bench_serve.py.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BatchingConfig:
    """How the service batches concurrent requests."""

    max_wait_ms: float = 5.0  # how long a batch's first request waits for others to join
    max_rows: int = 64  # prompts per call at most (before n samples each)
    queue_size: int = 256  # calls waiting at most; one more is refused with a 503
    enabled: bool = True  # False: one call at a time behind a lock, no batching

    def __post_init__(self) -> None:
        if self.max_wait_ms < 0 or self.max_rows < 1 or self.queue_size < 1:
            raise ValueError("need max_wait_ms >= 0, max_rows >= 1 and queue_size >= 1, got "
                             f"{self.max_wait_ms}, {self.max_rows}, {self.queue_size}")


class ServiceBusy(RuntimeError):
    """The queue is full; ``retry_after`` is a guess in whole seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class _Job:
    key: Hashable
    prompts: list[str]
    future: Future = field(default_factory=Future)


class MicroBatcher:
    """One worker thread running ``call(key, prompts) -> one result per prompt`` over the
    queued jobs of the same key, merged."""

    def __init__(self, call: Callable[[Hashable, list[str]], list[Any]],
                 config: BatchingConfig, name: str = "model") -> None:
        self.call = call
        self.config = config
        self.name = name
        self.jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=config.queue_size)
        self.calls: list[int] = []  # jobs merged per call, for tests and the benchmark
        self.last_call_s = 0.0
        self.worker = threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True)
        self.worker.start()

    def submit(self, key: Hashable, prompts: list[str]) -> list[Any]:
        """Queue ``prompts`` under ``key`` and wait for their results."""
        job = _Job(key, list(prompts))
        if not job.prompts:
            return []
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            retry = max(1, math.ceil(self.last_call_s))
            raise ServiceBusy(f"{self.name}: {self.config.queue_size} calls already queued; "
                              f"retry in {retry} s", retry) from None
        return job.future.result()

    def close(self) -> None:
        self.jobs.put(None)
        self.worker.join(timeout=10)

    def _loop(self) -> None:
        wait = self.config.max_wait_ms / 1000
        while True:
            first = self.jobs.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + wait
            rows = len(first.prompts)
            while rows < self.config.max_rows:
                left = deadline - time.monotonic()
                try:
                    job = self.jobs.get(timeout=left) if left > 0 else self.jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self.jobs.put(None)  # close after this batch
                    break
                batch.append(job)
                rows += len(job.prompts)
            by_key: dict[Hashable, list[_Job]] = {}
            for job in batch:
                by_key.setdefault(job.key, []).append(job)
            for key, group in by_key.items():
                self._run(key, group)

    def _run(self, key: Hashable, group: list[_Job]) -> None:
        prompts = [p for job in group for p in job.prompts]
        started = time.perf_counter()
        try:
            results = self.call(key, prompts)
        except Exception as exc:  # every waiting request gets the failure
            for job in group:
                job.future.set_exception(exc)
            return
        finally:
            self.last_call_s = time.perf_counter() - started
        self.calls.append(len(group))
        at = 0
        for job in group:
            job.future.set_result(results[at:at + len(job.prompts)])
            at += len(job.prompts)


class BatchedModel:
    """A loaded model behind a :class:`MicroBatcher`: same generate / score_choices."""

    def __init__(self, model: Any, config: BatchingConfig) -> None:
        self.inner = model
        self.name = model.name
        self.info = getattr(model, "info", {})
        self.batcher = MicroBatcher(self._call, config, name=str(model.name))

    def _call(self, key: Hashable, prompts: list[str]) -> list[Any]:
        kind, *args = key
        if kind == "score_choices":
            return self.inner.score_choices(prompts, list(args[0]))
        max_new_tokens, do_sample, temperature, n, seed = args
        return self.inner.generate(prompts, do_sample=do_sample, temperature=temperature,
                                   num_return_sequences=n, max_new_tokens=max_new_tokens,
                                   seed=seed)

    def generate(self, prompts: list[str], *, do_sample: bool = False, temperature: float = 1.0,
                 num_return_sequences: int = 1, max_new_tokens: int = 64,
                 seed: int | None = None, batch_size: int | None = None,
                 desc: str | None = None) -> list[list[str]]:
        """Joins the next batch with the same decoding settings (``batch_size`` and ``desc``
        are the batcher's business here)."""
        key = ("generate", max_new_tokens, do_sample, temperature if do_sample else 1.0,
               num_return_sequences, seed if do_sample else None)
        return self.batcher.submit(key, prompts)

    def score_choices(self, prompts: list[str], choices: list[str],
                      batch_size: int | None = None) -> list[list[float]]:
        return self.batcher.submit(("score_choices", tuple(choices)), prompts)


class LockedModel:
    """The design before micro-batching: each call runs alone, behind one lock."""

    def __init__(self, model: Any, config: BatchingConfig | None = None) -> None:
        self.inner = model
        self.name = model.name
        self.info = getattr(model, "info", {})
        self.lock = threading.Lock()

    def generate(self, prompts: list[str], **kwargs: Any) -> list[list[str]]:
        with self.lock:
            return self.inner.generate(prompts, **kwargs)

    def score_choices(self, prompts: list[str], choices: list[str],
                      batch_size: int | None = None) -> list[list[float]]:
        with self.lock:
            return self.inner.score_choices(prompts, choices, batch_size=batch_size)
