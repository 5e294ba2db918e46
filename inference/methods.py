"""The answering methods, all batched: cot, multitask, wsc (and its soft variant) and refine.

Each takes a :class:`~inference.chains.TextGenerator` (a loaded ``Backend`` or a stand-in
in tests) and a list of examples and returns one :class:`Prediction` per example.

As in the paper (Joshi et al., 2023):

- wsc: each sampled answer a_i gets the label t_i = argmax over :data:`ERROR_LABELS` of
  p(t | q, a_i), scored with the generator's ``score_choices``; its vote weighs 1 when t_i is
  'no error' and ``w`` otherwise. ``wsc_soft`` (an extension, reported as its own method)
  weighs w + (1 - w) · P('no error'), P renormalised over the labels. The labels are every
  text the error-types instruction trains: 'no error' and the 15 combinations of the four
  types (:mod:`feedback_data.critic_labels`).
- refine: when the model predicts 'no error' at round i, the answer is the chain c_{i-1} it
  was given (``keep="given"``); ``keep="written"`` takes the correction it wrote instead.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from feedback_data.answers import parse_answer_chain
from feedback_data.critic_labels import (
    ERROR_LABELS,
    argmax_label,
    label_lengths_of,
    no_error_probability,
    reading_of,
    reading_rows,
)
from feedback_data.instructions import (
    answer_prompt,
    error_types_prompt,
    parse_refine_output,
    refine_prompt,
)
from feedback_data.prompts import cot_prompt
from feedback_data.schema import Example
from inference.chains import TextGenerator

# The paper's four methods, and wsc_soft, an extension reported as its own row.
PAPER_METHODS: tuple[str, ...] = ("cot", "multitask", "wsc", "refine")
METHODS: tuple[str, ...] = ("cot", "multitask", "wsc", "wsc_soft", "refine")
# refine: which chain a 'no error' verdict keeps (the paper: the one the model was given).
REFINE_KEEP: tuple[str, ...] = ("given", "written")
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
    return [Prediction(ex.id, parse_answer_chain(o[0], ex)[0], o[0])
            for ex, o in zip(examples, outs, strict=True)]


def run_multitask(gen: TextGenerator, examples: list[Example], *, max_new_tokens: int = 64,
                  batch_size: int | None = None) -> list[Prediction]:
    """The fine-tuned model answers the answer instruction, greedy."""
    outs = gen.generate([answer_prompt(ex.question) for ex in examples],
                        max_new_tokens=max_new_tokens, batch_size=batch_size,
                        desc="multitask")
    return [Prediction(ex.id, parse_answer_chain(o[0], ex)[0], o[0])
            for ex, o in zip(examples, outs, strict=True)]


class Scorer(TextGenerator, Protocol):
    """A generator that also scores fixed choices: log p(choice | prompt) per choice."""

    def score_choices(self, prompts: list[str], choices: list[str],
                      batch_size: int | None = None) -> list[list[float]]: ...


def sample_weight(codes: list[str] | None, w: float) -> float:
    """1 when a critique text reads 'no error'; ``w`` when it names errors or cannot be read.

    (For a generated critique; wsc itself scores the labels, see :func:`label_weight`.)
    """
    return 1.0 if codes == [] else w


def label_weight(logps: list[float], w: float) -> float:
    """The paper's weight: 1 when argmax_t p(t | q, a) is 'no error' (index 0), else ``w``.

    A tie with 'no error' goes to 'no error' (the first label).

    >>> label_weight([-1.0, -2.0, -3.0, -4.0, -5.0], 0.5), label_weight([-2.0, -1.0], 0.5)
    (1.0, 0.5)
    """
    return 1.0 if argmax_label(logps) == 0 else w


def soft_weight(p_no_error: float, w: float) -> float:
    """The soft extension: w + (1 - w) · P('no error').

    >>> soft_weight(0.5, 0.5)
    0.75
    """
    return w + (1.0 - w) * p_no_error


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


@dataclass
class WscSamples:
    """The n sampled answers per example and each one's label log-probabilities.

    Both wsc and wsc_soft vote over the same samples and scores: sample and score once, then
    call :func:`wsc_vote` for each.
    """

    texts: list[list[str]]
    answers: list[list[str | None]]
    label_logps: list[list[list[float]]]  # label scores as the critic's reading scores them
    temperature: float = 1.0  # the critic's temperature (critic.json), applied in the vote


def wsc_sample(gen: Scorer, examples: list[Example], *, n: int = DEFAULT_N,
               temperature: float = DEFAULT_TEMPERATURE, seed: int = 0,
               max_new_tokens: int = 64, batch_size: int | None = None,
               batch_rows: int | None = None, critic: Scorer | None = None) -> WscSamples:
    """Sample n answers per question, then score the five labels for every distinct answer.

    One generate call per batch samples all n answers (the encoder runs once per question);
    one ``score_choices`` pass scores the :data:`ERROR_LABELS` of each distinct
    (question, answer) pair (a seq2seq model encodes each once for all sixteen labels).
    ``batch_rows`` is the decoder rows per batch of both passes (questions x n, answers x 16;
    default ``batch_size``). On a GPU a decoding step costs about the same from a few hundred
    rows to a few thousand, so raising it makes the n samples nearly free. ``critic`` (a
    separate critic, ``--critic-model``) scores the labels instead of ``gen``; the scorer's
    reading (its ``critic.json``: scoring, temperature) is applied.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    samples = gen.generate([answer_prompt(ex.question) for ex in examples], do_sample=True,
                           temperature=temperature, num_return_sequences=n,
                           max_new_tokens=max_new_tokens, seed=seed,
                           batch_size=batch_rows or batch_size, desc="wsc samples")
    prompts = [error_types_prompt(ex.question, s) for ex, outs in
               zip(examples, samples, strict=True) for s in outs]
    unique = list(dict.fromkeys(prompts))
    scorer = critic if critic is not None else gen
    reading = reading_of(scorer)
    rows = scorer.score_choices(unique, list(ERROR_LABELS),
                                batch_size=batch_rows or batch_size)
    if reading.scoring != "sum":
        rows = reading_rows(rows, reading, label_lengths_of(scorer))
    by_prompt = dict(zip(unique, rows, strict=True))
    return WscSamples(
        texts=samples,
        answers=[[parse_answer_chain(t, ex)[0] for t in outs]
                 for ex, outs in zip(examples, samples, strict=True)],
        label_logps=[[by_prompt[prompts[i * n + j]] for j in range(n)]
                     for i in range(len(examples))], temperature=reading.temperature)


def wsc_vote(examples: list[Example], samples: WscSamples, w: float = DEFAULT_W,
             soft: bool = False) -> list[Prediction]:
    """The weighted vote over ``samples``: paper weights, or the soft ones with ``soft``."""
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"w must be in [0, 1], got {w}")
    preds = []
    for ex, texts, answers, logps in zip(examples, samples.texts, samples.answers,
                                         samples.label_logps, strict=True):
        p_no_error = [no_error_probability(row, samples.temperature) for row in logps]
        labels = [ERROR_LABELS[argmax_label(row)] for row in logps]
        weights = ([soft_weight(p, w) for p in p_no_error] if soft
                   else [label_weight(row, w) for row in logps])
        preds.append(Prediction(ex.id, weighted_vote(answers, weights), texts[0], meta={
            "texts": texts, "answers": answers, "weights": weights, "critiques": labels,
            "p_no_error": p_no_error}))
    return preds


def run_wsc(gen: Scorer, examples: list[Example], *, n: int = DEFAULT_N,
            w: float = DEFAULT_W, temperature: float = DEFAULT_TEMPERATURE, seed: int = 0,
            soft: bool = False, max_new_tokens: int = 64,
            batch_size: int | None = None, batch_rows: int | None = None) -> list[Prediction]:
    """Weighted self-consistency: n sampled answers, each labelled by score, a weighted vote.

    ``soft=True`` is the wsc_soft extension (see :func:`soft_weight`).
    """
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"w must be in [0, 1], got {w}")
    samples = wsc_sample(gen, examples, n=n, temperature=temperature, seed=seed,
                         max_new_tokens=max_new_tokens, batch_size=batch_size,
                         batch_rows=batch_rows)
    return wsc_vote(examples, samples, w, soft=soft)


@dataclass
class RefineState:
    """One example's refinement: the current chain and why it stopped (None while running)."""

    chain: str
    rounds: int = 0
    stop: str | None = None
    history: list[str] = field(default_factory=list)


def refine_update(state: RefineState, output: str, max_rounds: int,
                  keep: str = "given", example: Example | None = None) -> RefineState:
    """Apply one 'error types ; correction' output to ``state`` (the stopping rule).

    - 'no error': stop. ``keep="given"`` (the paper): the chain stays the one the model was
      given, c_{i-1}; ``keep="written"``: a readable correction it wrote becomes the chain.
    - errors named and a readable correction: the correction becomes the chain; go on.
    - errors named but no readable correction, or no error types readable: stop, keep chain.
    - after ``max_rounds`` rounds: stop.

    A correction is readable when ``example``'s task can read its answer (yes/no without it).
    """
    if keep not in REFINE_KEEP:
        raise ValueError(f"keep must be one of {', '.join(REFINE_KEEP)}, got {keep!r}")
    codes, correction = parse_refine_output(output)
    state.rounds += 1
    state.history.append(output)
    readable = bool(correction) and parse_answer_chain(correction, example)[2]
    if codes == []:
        if readable and keep == "written":
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
               rounds: int = DEFAULT_ROUNDS, keep: str = "given", max_new_tokens: int = 64,
               batch_size: int | None = None) -> list[Prediction]:
    """Iterative refinement from ``start_chains``; only unfinished examples stay in the batch.

    ``keep``: what a 'no error' verdict keeps (see :func:`refine_update`).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if keep not in REFINE_KEEP:
        raise ValueError(f"keep must be one of {', '.join(REFINE_KEEP)}, got {keep!r}")
    order = getattr(gen, "chain_order", None)  # start chains read as the model writes them
    states = [RefineState(chain=c) for c in start_chains]
    for r in range(rounds):
        active = [i for i, s in enumerate(states) if s.stop is None]
        if not active:
            break
        outs = gen.generate([refine_prompt(examples[i].question, states[i].chain, order)
                             for i in active],
                            max_new_tokens=max_new_tokens + CRITIQUE_TOKENS,
                            batch_size=batch_size, desc=f"refine round {r + 1}")
        for i, o in zip(active, outs, strict=True):
            refine_update(states[i], o[0], rounds, keep, examples[i])
    return [Prediction(ex.id, parse_answer_chain(s.chain, ex)[0], s.chain, meta={
        "rounds": s.rounds, "stop": s.stop, "keep": keep, "start": start,
        "history": s.history})
        for ex, s, start in zip(examples, states, start_chains, strict=True)]
