"""Generate k-shot CoT chains (what annotators review) and write them resumably as JSONL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from feedback_data.files.disk_full import DiskFull, disk_full
from feedback_data.records.jsonl import append_records, read_records
from feedback_data.records.schema import Chain, Example, make_chain_id
from feedback_data.tasks.prompts import cot_prompt, default_shots, prompt_id
from feedback_data.text.answers import parse_answer_chain


class TextGenerator(Protocol):
    """What methods need from a model: batched generation (``Backend`` is one)."""

    name: str

    def generate(self, prompts: list[str], *, do_sample: bool = False, temperature: float = 1.0,
                 num_return_sequences: int = 1, max_new_tokens: int = 64,
                 seed: int | None = None, batch_size: int | None = None,
                 desc: str | None = None) -> list[list[str]]: ...


def make_chain(example: Example, text: str, model: str, pid: str, sample: int = 0) -> Chain:
    """A Chain from generated text; an unparseable text is kept with ``parsed=False``. The
    answer is read as ``example``'s task reads it (feedback_data.text.answers)."""
    answer, steps, parsed = parse_answer_chain(text, example)
    return Chain(id=make_chain_id(example.id, model, pid, sample), example_id=example.id,
                 task=example.task, question=example.question, model=model, prompt_id=pid,
                 text=text, answer=answer, steps=steps, parsed=parsed)


def generate_chains(
    generator: TextGenerator,
    examples: list[Example],
    task: str,
    *,
    k: int = 4,
    shots: list[Example] | None = None,
    out: str | Path | None = None,
    num_samples: int = 1,
    do_sample: bool = False,
    temperature: float = 0.7,
    max_new_tokens: int = 96,
    seed: int = 0,
    batch_size: int | None = None,
    chunk: int = 64,
    write: bool = True,
    log: Callable[[str], None] = lambda _m: None,
) -> list[Chain]:
    """k-shot CoT chains for ``examples``, ``num_samples`` per example.

    With ``out``, chains already in the file are skipped (by chain id) and new ones are
    appended every ``chunk`` examples, so an interrupted run resumes where it stopped
    (``write=False``: read ``out`` but leave it to another process, the main one of a launch).
    Sampling is seeded per (seed, prompt, sample), so a resumed run draws what an
    uninterrupted one would. Returns every chain of these examples, old and new, in order.
    """
    if num_samples > 1 and not do_sample:
        raise ValueError("num_samples > 1 needs sampling (do_sample=True)")
    shots = default_shots(task, k, seed=seed) if shots is None else shots
    pid = prompt_id(task, shots)
    model = generator.name
    done: dict[str, Chain] = {}
    if out is not None and Path(out).exists():
        done = {c.id: c for c in read_records(out, Chain)}
    ids = {ex.id: [make_chain_id(ex.id, model, pid, s) for s in range(num_samples)]
           for ex in examples}
    todo = [ex for ex in examples if any(cid not in done for cid in ids[ex.id])]
    log(f"{task}: {len(examples) - len(todo)} examples already done, {len(todo)} to generate")
    prompts = _fitted_prompts(generator, task, todo, shots, log)
    for start in range(0, len(todo), chunk):
        part = todo[start:start + chunk]
        texts = generator.generate(prompts[start:start + chunk],
                                   do_sample=do_sample, temperature=temperature,
                                   num_return_sequences=num_samples,
                                   max_new_tokens=max_new_tokens, seed=seed,
                                   batch_size=batch_size,
                                   desc=f"chains {task} {start}/{len(todo)}")
        new = [make_chain(ex, t, model, pid, s) for ex, outs in zip(part, texts, strict=True)
               for s, t in enumerate(outs) if make_chain_id(ex.id, model, pid, s) not in done]
        if out is not None and write:
            try:
                append_records(out, new)
            except DiskFull as exc:
                raise disk_full(Path(out).parent, exc.needed,
                                f"{out} keeps the {len(done)} chains written before (nothing "
                                f"half-written); free some room and run the same command to "
                                f"go on") from None
        done.update({c.id: c for c in new})
    return [done[cid] for ex in examples for cid in ids[ex.id]]


def _fitted_prompts(generator: Any, task: str, examples: list[Example], shots: list[Example],
                    log: Callable[[str], None]) -> list[str]:
    """Each example's k-shot prompt; with a tokenizer and source budget, whole shots dropped
    from the end where a prompt would not fit (said once through ``log``)."""
    from inference.shot_budget import fit_shots, token_counter

    budget = getattr(generator, "max_source_length", None)
    tokenizer = getattr(generator, "tokenizer", None)
    if not shots or not budget or tokenizer is None or not examples:
        return [cot_prompt(task, ex.question, shots) for ex in examples]
    fitted = fit_shots(task, [ex.question for ex in examples], shots,
                       token_counter(tokenizer, not generator.is_encoder_decoder), budget)
    if fitted.lost:
        log(fitted.message(task))
    return fitted.prompts


def select_examples(task: str, split: str, limit: int | None = None) -> list[Example]:
    """Questions to write chains for, one per question: a built-in task's 'train' (the
    paper's train feedback questions), 'dev' (the dev set) or 'all' (every BIG-bench
    example); a spec's train / dev / all (feedback_data.tasks.data)."""
    from feedback_data.tasks.data import split_examples

    return split_examples(task, split, limit)
