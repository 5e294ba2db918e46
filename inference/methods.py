"""The answering methods, all batched: cot, multitask, wsc (and its soft variant) and refine.

Each takes a :class:`~inference.chains.TextGenerator` (a loaded ``Backend`` or a stand-in
in tests) and a list of examples and returns one :class:`Prediction` per example.

As in the paper (Joshi et al., 2023):

- wsc: each sampled answer a_i gets the label t_i = argmax over the critic's sixteen labels
  of p(t | q, a_i), scored with the generator's ``score_choices``; its vote weighs 1 when t_i is
  'no error' and ``w`` otherwise. ``wsc_soft`` (an extension, reported as its own method)
  weighs w + (1 - w) · P('no error'), P renormalised over the labels. The labels are every
  text the error-types instruction trains: 'no error' and the 15 combinations of the four
  types (:mod:`feedback_data.text.critic_labels`).
- refine: when the model predicts 'no error' at round i, the answer is the chain c_{i-1} it
  was given (``keep="given"``); ``keep="written"`` takes the correction it wrote instead.
  ``rule="threshold"`` (an extension) asks the critic first: a chain whose calibrated
  P(no error) is at least τ stays as it is, and only the others are rewritten.

A critic's reading (its checkpoint's ``critic.json``: label scoring and temperature,
:mod:`feedback_data.text.critic_labels`) is applied wherever a P(no error) is read (wsc_soft's
weights, refine's threshold rule); wsc's argmax label does not change with the temperature.
When the critic is a :class:`~inference.combined_critic.CombinedCritic` (its checkpoint holds
a combiner), that P is the combined critic's: the learned P, verification against the
verifier's own chains and its answer agreement, combined. wsc's paper weights stay the
learned critic's argmax label.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from feedback_data.records.schema import Example
from feedback_data.tasks.prompts import cot_prompt
from feedback_data.text.answers import parse_answer_chain
from feedback_data.text.critic_labels import (
    ERROR_LABELS,
    argmax_label,
    label_lengths_of,
    no_error_probabilities,
    no_error_probability,
    reading_of,
    reading_rows,
)
from feedback_data.text.instructions import (
    answer_prompt,
    error_types_prompt,
    refine_prompt,
)
from feedback_data.text.refine_rule import REFINE_KEEP, RefineState, refine_update
from inference.chains import TextGenerator
from inference.combined_critic import CombinedCritic, combine_or_keep

# refine: when to rewrite. 'paper': while the refine model names an error; 'threshold':
# only chains whose calibrated P(no error) from the critic is below τ, then as 'paper'.
REFINE_RULES: tuple[str, ...] = ("paper", "threshold")
DEFAULT_TAU = 0.5
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
    """k-shot chain-of-thought with the base model, greedy.

    A prompt longer than the model's source budget keeps as many whole shots as fit
    (inference.shot_budget), said once on stderr; each such prediction's meta records
    ``shots_dropped``."""
    import sys

    from inference.shot_budget import fit_shots, token_counter

    budget = getattr(gen, "max_source_length", None)
    tokenizer = getattr(gen, "tokenizer", None)
    if shots and budget and tokenizer is not None:
        fitted = fit_shots(task, [ex.question for ex in examples], shots,
                           token_counter(tokenizer, not gen.is_encoder_decoder), budget)
        prompts, kept = fitted.prompts, fitted.kept
        if fitted.lost:
            print(fitted.message(task), file=sys.stderr)
    else:
        prompts = [cot_prompt(task, ex.question, shots) for ex in examples]
        kept = [len(shots)] * len(examples)
    outs = gen.generate(prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
                        desc=f"cot {task}")
    return [Prediction(ex.id, parse_answer_chain(o[0], ex)[0], o[0],
                       {"shots_dropped": len(shots) - n} if n < len(shots) else {})
            for ex, o, n in zip(examples, outs, kept, strict=True)]


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


def vote_margin(answers: list[str | None], weights: list[float]) -> float | None:
    """(top total weight - runner-up's) / total weight of the readable answers: 1 when every
    vote goes one way, 0 for a tie; None when no answer is readable.

    >>> vote_margin(["yes", "no", "no", None], [1.0, 0.5, 0.5, 1.0])
    0.0
    >>> vote_margin(["yes", "yes", "no"], [1.0, 0.5, 0.5])
    0.5
    """
    totals: dict[str, float] = defaultdict(float)
    for a, wt in zip(answers, weights, strict=True):
        if a is not None:
            totals[a] += wt
    total = sum(totals.values())
    if not totals or total <= 0:
        return None
    top = sorted(totals.values(), reverse=True) + [0.0]
    return (top[0] - top[1]) / total


def vote_summary(preds: list[Prediction]) -> dict[str, Any]:
    """What a weighted vote leaned on, over wsc / wsc_soft predictions: the share of samples
    with weight 1 (the critic said 'no error'; with every weight w the vote is a plain
    majority vote), the mean weight, and the mean vote margin (:func:`vote_margin`)."""
    weights = [wt for p in preds for wt in p.meta["weights"]]
    margins = [m for p in preds
               if (m := vote_margin(p.meta["answers"], p.meta["weights"])) is not None]
    return {"samples": len(weights),
            "share_weight_one": (sum(wt == 1.0 for wt in weights) / len(weights))
            if weights else None,
            "mean_weight": sum(weights) / len(weights) if weights else None,
            "mean_vote_margin": sum(margins) / len(margins) if margins else None,
            "questions_without_vote": len(preds) - len(margins)}


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
    # each sample's P(no error) from the combined critic (None: read from label_logps)
    combined: list[list[float]] | None = None


def wsc_sample(gen: Scorer, examples: list[Example], *, n: int = DEFAULT_N,
               temperature: float = DEFAULT_TEMPERATURE, seed: int = 0,
               max_new_tokens: int = 64, batch_size: int | None = None,
               batch_rows: int | None = None, critic: Scorer | None = None) -> WscSamples:
    """Sample n answers per question, then score the 16 labels for every distinct answer.

    One generate call per batch samples all n answers (the encoder runs once per question);
    one ``score_choices`` pass scores the :data:`ERROR_LABELS` of each distinct
    (question, answer) pair (a seq2seq model encodes each once for all sixteen labels).
    ``batch_rows`` is the decoder rows per batch of both passes (questions x n, answers x 16;
    default ``batch_size``). On a GPU a decoding step costs about the same from a few hundred
    rows to a few thousand, so raising it makes the n samples nearly free. ``critic`` (a
    separate critic, ``--critic-model``) scores the labels instead of ``gen``; the scorer's
    reading (its ``critic.json``: scoring, temperature) is applied. A
    :class:`~inference.combined_critic.CombinedCritic` as ``critic`` also gives each sample
    its combined P(no error) (``combined``), which wsc_soft weighs with.
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
    rows = scorer.score_choices(unique, list(reading.labels),
                                batch_size=batch_rows or batch_size)
    if reading.scoring != "sum":
        rows = reading_rows(rows, reading, label_lengths_of(scorer, reading.labels))
    by_prompt = dict(zip(unique, rows, strict=True))
    answers = [[parse_answer_chain(t, ex)[0] for t in outs]
               for ex, outs in zip(examples, samples, strict=True)]
    combined: list[list[float]] | None = None
    if isinstance(scorer, CombinedCritic):  # wsc_soft reads the combined critic's P
        first: dict[str, tuple[Example, str, str | None]] = {}
        for i, ex in enumerate(examples):
            for j in range(n):
                first.setdefault(prompts[i * n + j], (ex, samples[i][j], answers[i][j]))
        judged = [first[p] for p in unique]
        probs = scorer.combine(judged, [no_error_probability(r, reading.temperature)
                                        for r in rows])
        by_p = dict(zip(unique, probs, strict=True))
        combined = [[by_p[prompts[i * n + j]] for j in range(n)] for i in range(len(examples))]
    return WscSamples(
        texts=samples, answers=answers,
        label_logps=[[by_prompt[prompts[i * n + j]] for j in range(n)]
                     for i in range(len(examples))], temperature=reading.temperature,
        combined=combined)


def wsc_vote(examples: list[Example], samples: WscSamples, w: float = DEFAULT_W,
             soft: bool = False) -> list[Prediction]:
    """The weighted vote over ``samples``: paper weights, or the soft ones with ``soft``.

    The soft weights read P(no error) at the critic's temperature (``samples.temperature``,
    from its ``critic.json``).
    """
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"w must be in [0, 1], got {w}")
    preds = []
    for i, (ex, texts, answers, logps) in enumerate(zip(
            examples, samples.texts, samples.answers, samples.label_logps, strict=True)):
        learned = [no_error_probability(row, samples.temperature) for row in logps]
        p_no_error = samples.combined[i] if samples.combined is not None else learned
        labels = [ERROR_LABELS[argmax_label(row)] for row in logps]
        weights = ([soft_weight(p, w) for p in p_no_error] if soft
                   else [label_weight(row, w) for row in logps])
        preds.append(Prediction(ex.id, weighted_vote(answers, weights), texts[0], meta={
            "texts": texts, "answers": answers, "weights": weights, "critiques": labels,
            "p_no_error": p_no_error,
            **({"p_learned": learned} if samples.combined is not None else {})}))
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


def run_refine(gen: TextGenerator, examples: list[Example], start_chains: list[str], *,
               rounds: int = DEFAULT_ROUNDS, keep: str = "given", max_new_tokens: int = 64,
               batch_size: int | None = None, rule: str = "paper",
               critic: Scorer | None = None, tau: float = DEFAULT_TAU) -> list[Prediction]:
    """Iterative refinement from ``start_chains``; only unfinished examples stay in the batch.

    ``keep``: what a 'no error' verdict keeps (see :func:`refine_update`). ``rule``:
    'paper' rewrites while the refine model names an error; 'threshold' first asks
    ``critic`` for each active chain's calibrated P(no error) (error-types instruction, read
    as the critic's ``critic.json`` says: scoring and temperature) and stops, keeping the
    chain, where it is at least ``tau`` (stop reason 'critic_no_error'); the rest go through
    the paper's rule.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if keep not in REFINE_KEEP:
        raise ValueError(f"keep must be one of {', '.join(REFINE_KEEP)}, got {keep!r}")
    if rule not in REFINE_RULES:
        raise ValueError(f"rule must be one of {', '.join(REFINE_RULES)}, got {rule!r}")
    if rule == "threshold" and critic is None:
        raise ValueError("refine's threshold rule needs a critic to score P(no error)")
    order = getattr(gen, "chain_order", None)  # start chains read as the model writes them
    states = [RefineState(chain=c) for c in start_chains]
    checks: list[list[float]] = [[] for _ in states]
    for r in range(rounds):
        active = [i for i, s in enumerate(states) if s.stop is None]
        if active and rule == "threshold":
            assert critic is not None
            corder = getattr(critic, "chain_order", None)
            probs = no_error_probabilities(
                critic, [error_types_prompt(examples[i].question, states[i].chain, corder)
                         for i in active], batch_size=batch_size)
            probs = combine_or_keep(critic, [
                (examples[i], states[i].chain, parse_answer_chain(states[i].chain,
                                                                  examples[i])[0])
                for i in active], probs)
            for i, p in zip(active, probs, strict=True):
                checks[i].append(p)
                if p >= tau:
                    states[i].stop = "critic_no_error"
            active = [i for i in active if states[i].stop is None]
        if not active:
            break
        outs = gen.generate([refine_prompt(examples[i].question, states[i].chain, order)
                             for i in active],
                            max_new_tokens=max_new_tokens + CRITIQUE_TOKENS,
                            batch_size=batch_size, desc=f"refine round {r + 1}")
        for i, o in zip(active, outs, strict=True):
            refine_update(states[i], o[0], rounds, keep, examples[i])
    threshold = ({"rule": rule, "tau": tau, "critic_reading": reading_of(critic).as_dict(),
                  **({"combined_critic": critic.describe()}
                     if isinstance(critic, CombinedCritic) else {})}
                 if rule == "threshold" else {})
    return [Prediction(ex.id, parse_answer_chain(s.chain, ex)[0], s.chain, meta={
        "rounds": s.rounds, "stop": s.stop, "keep": keep, "start": start,
        "history": s.history,
        **(threshold | {"p_no_error": check} if threshold else {})})
        for ex, s, start, check in zip(examples, states, start_chains, checks, strict=True)]


def refine_chains(start: str, history: list[str], keep: str = "given",
                  example: Example | None = None) -> list[str]:
    """The chain before each round and after the last: [c_0, c_1, ...], replayed from a
    refine prediction's ``start`` and ``history`` (the outputs of the rounds it ran) with
    :func:`refine_update`; one chain per round run plus the start."""
    state = RefineState(chain=start)
    chains = [start]
    for output in history:
        refine_update(state, output, len(history) + 1, keep, example)
        chains.append(state.chain)
    return chains
