"""The four answering methods, all batched: cot, multitask, wsc and refine.

Each takes a :class:`~inference.chains.TextGenerator` (a loaded ``Backend`` or a stand-in
in tests) and a list of examples and returns one :class:`Prediction` per example.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from feedback_data.chain_format import parse_chain
from feedback_data.schema import Example
from inference.chains import TextGenerator
from inference.prompts import cot_prompt
from training.instructions import (
    answer_prompt,
    error_types_prompt,
    parse_error_types_text,
    parse_refine_output,
    refine_prompt,
)

METHODS: tuple[str, ...] = ("cot", "multitask", "wsc", "refine")
# Defaults (justified in docs/inference_eval.md).
DEFAULT_N = 8
DEFAULT_W = 0.5
DEFAULT_TEMPERATURE = 0.7
DEFAULT_ROUNDS = 3
# An error-type list is at most four names (~12 tokens with the tiny tokenizer).
CRITIQUE_TOKENS = 16


@dataclass
class Prediction:
    """One method's answer to one example, with what produced it."""

    example_id: str
    answer: str | None
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


def run_cot(gen: TextGenerator, examples: list[Example], task: str, shots: list[Example], *,
            max_new_tokens: int = 64, batch_size: int | None = None) -> list[Prediction]:
    """k-shot chain-of-thought with the base model, greedy."""
    outs = gen.generate([cot_prompt(task, ex.question, shots) for ex in examples],
                        max_new_tokens=max_new_tokens, batch_size=batch_size,
                        desc=f"cot {task}")
    return [Prediction(ex.id, parse_chain(o[0])[0], o[0]) for ex, o in zip(examples, outs,
                                                                         strict=True)]


def run_multitask(gen: TextGenerator, examples: list[Example], *, max_new_tokens: int = 64,
                  batch_size: int | None = None) -> list[Prediction]:
    """The fine-tuned model answers the answer instruction, greedy."""
    outs = gen.generate([answer_prompt(ex.question) for ex in examples],
                        max_new_tokens=max_new_tokens, batch_size=batch_size,
                        desc="multitask")
    return [Prediction(ex.id, parse_chain(o[0])[0], o[0]) for ex, o in zip(examples, outs,
                                                                         strict=True)]


def sample_weight(codes: list[str] | None, w: float) -> float:
    """1 when the critique says 'no error'; ``w`` when it names errors or cannot be read."""
    return 1.0 if codes == [] else w


def weighted_vote(answers: list[str | None], weights: list[float]) -> str | None:
    """The answer with the largest total weight; unparsed answers (None) get no vote.

    Ties go to the answer with more votes, then to the one sampled first.

    >>> weighted_vote(["yes", "no", "no"], [1.0, 0.5, 0.4])
    'yes'
    """
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    first: dict[str, int] = {}
    for i, (a, wt) in enumerate(zip(answers, weights, strict=True)):
        if a is None:
            continue
        totals[a] += wt
        counts[a] += 1
        first.setdefault(a, i)
    if not totals:
        return None
    return max(totals, key=lambda a: (round(totals[a], 9), counts[a], -first[a]))


def run_wsc(gen: TextGenerator, examples: list[Example], *, n: int = DEFAULT_N,
            w: float = DEFAULT_W, temperature: float = DEFAULT_TEMPERATURE, seed: int = 0,
            max_new_tokens: int = 64, batch_size: int | None = None) -> list[Prediction]:
    """Weighted self-consistency: n sampled answers, each critiqued, then a weighted vote.

    One generate call per batch samples all n answers (the encoder runs once per question);
    the n x len(examples) critiques are then one batched greedy pass.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"w must be in [0, 1], got {w}")
    samples = gen.generate([answer_prompt(ex.question) for ex in examples], do_sample=True,
                           temperature=temperature, num_return_sequences=n,
                           max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size,
                           desc="wsc samples")
    flat = [(ex, s) for ex, outs in zip(examples, samples, strict=True) for s in outs]
    critiques = gen.generate([error_types_prompt(ex.question, s) for ex, s in flat],
                             max_new_tokens=min(CRITIQUE_TOKENS, max_new_tokens),
                             batch_size=batch_size, desc="wsc critiques")
    preds = []
    for i, ex in enumerate(examples):
        texts = samples[i]
        crits = [c[0] for c in critiques[i * n:(i + 1) * n]]
        answers = [parse_chain(t)[0] for t in texts]
        weights = [sample_weight(parse_error_types_text(c), w) for c in crits]
        preds.append(Prediction(ex.id, weighted_vote(answers, weights), texts[0], meta={
            "texts": texts, "answers": answers, "weights": weights, "critiques": crits}))
    return preds


@dataclass
class RefineState:
    """One example's refinement: the current chain and why it stopped (None while running)."""

    chain: str
    rounds: int = 0
    stop: str | None = None
    history: list[str] = field(default_factory=list)


def refine_update(state: RefineState, output: str, max_rounds: int) -> RefineState:
    """Apply one 'error types ; correction' output to ``state`` (the stopping rule).

    - 'no error': stop; a readable correction still becomes the chain (the last correction).
    - errors named and a readable correction: the correction becomes the chain; go on.
    - errors named but no readable correction, or no error types readable: stop, keep chain.
    - after ``max_rounds`` rounds: stop.
    """
    codes, correction = parse_refine_output(output)
    state.rounds += 1
    state.history.append(output)
    readable = bool(correction) and parse_chain(correction)[2]
    if codes == []:
        if readable:
            state.chain = correction
        state.stop = "no_error"
    elif codes is None:
        state.stop = "unparsed"
    elif not readable:
        state.stop = "unparsed_correction"
    else:
        state.chain = correction
        if state.rounds >= max_rounds:
            state.stop = "max_rounds"
    return state


def run_refine(gen: TextGenerator, examples: list[Example], start_chains: list[str], *,
               rounds: int = DEFAULT_ROUNDS, max_new_tokens: int = 64,
               batch_size: int | None = None) -> list[Prediction]:
    """Iterative refinement from ``start_chains``; only unfinished examples stay in the batch."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    states = [RefineState(chain=c) for c in start_chains]
    for r in range(rounds):
        active = [i for i, s in enumerate(states) if s.stop is None]
        if not active:
            break
        outs = gen.generate([refine_prompt(examples[i].question, states[i].chain)
                             for i in active],
                            max_new_tokens=max_new_tokens + CRITIQUE_TOKENS,
                            batch_size=batch_size, desc=f"refine round {r + 1}")
        for i, o in zip(active, outs, strict=True):
            refine_update(states[i], o[0], rounds)
    return [Prediction(ex.id, parse_chain(s.chain)[0], s.chain, meta={
        "rounds": s.rounds, "stop": s.stop, "start": start, "history": s.history})
        for ex, s, start in zip(examples, states, start_chains, strict=True)]
