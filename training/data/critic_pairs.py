"""The critic's training pairs: what the annotators said, not only the model's chains.

Three sources of (question, chain) -> error-types pairs (all under the ``error_types`` term):

- **model chains** (q, m) with the annotators' error types (the paper's pairs);
- **corrections** (``data.critic_corrections``): a human correction whose answer agrees with
  the gold answer is a known error-free chain, so (q, c) -> "no error". It forms a
  contrastive pair with its record's (q, m), and both are in every epoch (the sampler cuts
  no term's batches). Corrections that contradict the gold answer, or whose answer cannot be
  read, stay out (counted);
- **counterfactual edits of those corrections** (``data.critic_augment``, a share of the
  gold-consistent corrections per kind), each giving its error type by construction
  (:data:`AUGMENTATIONS`):

  ====  =====================================================================================
  FE    a stated fact replaced by a wrong one: Sports, the sport named in a step swapped for
        another of vocab.json's sports; StrategyQA, the first number in a step changed
  MF    a step deleted (the correction keeps at least one)
  IR    a step of another record's correction (another question of the same task) inserted
  LI    the conclusion flipped: the same steps, the opposite answer
  ====  =====================================================================================

Only the records handed in are read (the recipes hand in training records only: never the
validation, detection or dev records). The edits are pure functions of their inputs; which
records get which edit is drawn from a generator seeded by ``train.seed``.

Label balance (``data.critic_balance``): ``resample`` repeats "no error" or error pairs
(whichever are fewer) until each is half of the critic's pairs; ``reweight`` keeps every pair
once and weighs each class's pairs in the loss so that each class holds half the weight
(:func:`reweight`); ``none`` leaves them.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from feedback_data.records.schema import FeedbackItem
from feedback_data.text.answers import answers_match
from feedback_data.text.chain_format import format_chain, reorder_chain
from feedback_data.text.instructions import error_types_prompt, error_types_text
from training.data.examples import AUGMENTATIONS, Pair, check_augment

CRITIC_TERM = "error_types"
# run.json's key for what the critic's pairs hold (counts.critic)
CRITIC_COUNTS = "critic"
BALANCES: tuple[str, ...] = ("none", "resample", "reweight")

# How a sport is written in chains (longest first, so "american football" wins over
# "football"), and the vocab.json sport it names.
_SPORT_WORDS: tuple[tuple[str, str], ...] = (
    ("american football", "football"), ("ice hockey", "hockey"), ("basketball", "basketball"),
    ("baseball", "baseball"), ("football", "football"), ("hockey", "hockey"),
    ("soccer", "soccer"))
_SPORT_RE = re.compile(r"\b(" + "|".join(w for w, _ in _SPORT_WORDS) + r")\b", re.I)
_WRITTEN = {"football": "American football", "hockey": "ice hockey"}
_NUMBER_RE = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b")


def swap_sport(steps: Sequence[str], sports: Sequence[str], pick: int = 0) -> list[str] | None:
    """FE: the first sport named in the steps replaced by another of ``sports`` (the
    ``pick``-th other one, cycling); None when no step names a sport.

    >>> swap_sport(["Kyle Tucker is a baseball player.", "Dunks are basketball."],
    ...            ["soccer", "basketball", "baseball"], pick=1)
    ['Kyle Tucker is a basketball player.', 'Dunks are basketball.']
    """
    for i, step in enumerate(steps):
        match = _SPORT_RE.search(step)
        if match is None:
            continue
        said = dict(_SPORT_WORDS)[match.group(1).lower()]
        others = [s for s in sports if s != said]
        if not others:
            return None
        new = _WRITTEN.get(others[pick % len(others)], others[pick % len(others)])
        return [*steps[:i], step[:match.start()] + new + step[match.end():], *steps[i + 1:]]
    return None


def change_number(steps: Sequence[str]) -> list[str] | None:
    """FE for a chain without sports: the first number in the steps doubled plus one (a
    stated quantity made wrong); None when no step has a number.

    >>> change_number(["The sea is 3,937 meters deep.", "Divers reach 300 m."])
    ['The sea is 7875 meters deep.', 'Divers reach 300 m.']
    """
    for i, step in enumerate(steps):
        match = _NUMBER_RE.search(step)
        if match is None:
            continue
        value = float(match.group(0).replace(",", ""))
        new = value * 2 + 1
        text = str(int(new)) if new.is_integer() else f"{new:g}"
        return [*steps[:i], step[:match.start()] + text + step[match.end():], *steps[i + 1:]]
    return None


def drop_step(steps: Sequence[str], index: int) -> list[str] | None:
    """MF: step ``index`` (modulo the count) deleted; None for a chain of fewer than 2 steps.

    >>> drop_step(["A.", "B.", "C."], 4)
    ['A.', 'C.']
    """
    if len(steps) < 2:
        return None
    i = index % len(steps)
    return [*steps[:i], *steps[i + 1:]]


def insert_fact(steps: Sequence[str], fact: str, index: int) -> list[str] | None:
    """IR: ``fact`` (a step of another record) inserted before step ``index`` (modulo the
    count + 1); None when the fact is empty or already a step.

    >>> insert_fact(["A.", "B."], "Cats purr.", 1)
    ['A.', 'Cats purr.', 'B.']
    """
    fact = fact.strip()
    if not fact or fact in steps:
        return None
    i = index % (len(steps) + 1)
    return [*steps[:i], fact, *steps[i:]]


def flip_answer(answer: str) -> str | None:
    """LI: the opposite yes/no conclusion; None for any other answer.

    >>> flip_answer("yes"), flip_answer("maybe")
    ('no', None)
    """
    return {"yes": "no", "no": "yes"}.get(answer)


def gold_consistent_correction(item: FeedbackItem) -> bool:
    """A correction that is a known error-free chain: its answer can be read and agrees
    with the gold answer, and it has steps."""
    c, gold = item.feedback.correction, item.example.answer
    return (c.answer is not None and gold is not None and bool(c.steps)
            and answers_match(item.example, c.answer, gold))


@dataclass
class CriticCounts:
    """What the critic's pairs hold (run.json ``counts.critic``)."""

    chains: int = 0
    chains_no_error: int = 0
    corrections: int = 0
    corrections_left_out: dict[str, int] = field(default_factory=dict)
    augmented: dict[str, int] = field(default_factory=dict)
    augment_skipped: dict[str, int] = field(default_factory=dict)
    balance: str = "none"
    resampled: int = 0
    # reweight: the loss weight of a 'no error' pair and of an error pair
    weights: dict[str, float] = field(default_factory=dict)
    no_error_share: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def augment(item: FeedbackItem, kind: str, rng: random.Random, vocab_sports: Sequence[str],
            facts: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """One counterfactual edit of ``item``'s (gold-consistent) correction: (chain text in
    answer-first form, error code), or None when the edit does not apply. ``facts`` are
    (example id, step) of the other records' corrections."""
    c = item.feedback.correction
    answer, steps = c.answer or "", list(c.steps)
    new_steps: list[str] | None = steps
    if kind == "fact_swap":
        new_steps = (swap_sport(steps, vocab_sports, rng.randrange(4))
                     if item.example.task == "sports_understanding" else change_number(steps))
    elif kind == "drop_step":
        new_steps = drop_step(steps, rng.randrange(len(steps)) if steps else 0)
    elif kind == "insert_fact":
        others = [f for ex_id, f in facts if ex_id != item.example.id]
        new_steps = (insert_fact(steps, rng.choice(others), rng.randrange(len(steps) + 1))
                     if others else None)
    elif kind == "flip_answer":
        flipped = flip_answer(answer)
        if flipped is None:
            return None
        answer = flipped
    else:
        raise ValueError(f"unknown augmentation {kind!r}; known: {list(AUGMENTATIONS)}")
    if new_steps is None:
        return None
    return format_chain(answer, new_steps), AUGMENTATIONS[kind]


def _facts_by_task(items: Sequence[FeedbackItem]) -> dict[str, list[tuple[str, str]]]:
    """(example id, step) of the corrections of ``items``, by task: an inserted irrelevant
    fact comes from another question of the same task, so its topic alone does not give it
    away."""
    out: dict[str, list[tuple[str, str]]] = {}
    for i in items:
        out.setdefault(i.example.task, []).extend(
            (i.example.id, s) for s in i.feedback.correction.steps)
    return out


def critic_pairs(items: Sequence[FeedbackItem], *, corrections: bool = False,
                 augment_shares: Mapping[str, float] | None = None, balance: str = "none",
                 order: str = "answer_first", seed: int = 0,
                 vocab_sports: Sequence[str] = ()) -> tuple[list[Pair], CriticCounts]:
    """The critic's error-types pairs of ``items`` (training records) and their counts:
    every model chain; with ``corrections`` each gold-consistent correction as 'no error'
    right after its record's chain pair; ``augment_shares`` of those corrections edited per
    kind; ``balance`` applied last."""
    augment_shares = dict(augment_shares or {})
    check_augment(augment_shares)
    if balance not in BALANCES:
        raise ValueError(f"data.critic_balance: one of {list(BALANCES)}, got {balance!r}")
    counts = CriticCounts(balance=balance)
    left_out: Counter[str] = Counter()
    augmented: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    rng = random.Random(seed * 7_919 + 33)
    good = [gold_consistent_correction(i) for i in items]
    facts = _facts_by_task([i for i, g in zip(items, good, strict=True) if g])
    pairs: list[Pair] = []
    for item, ok in zip(items, good, strict=True):
        q, fb = item.example.question, item.feedback
        pairs.append(Pair(error_types_prompt(q, reorder_chain(item.chain.text, order)),
                          error_types_text(fb.error_types), CRITIC_TERM, fb.id))
        counts.chains += 1
        counts.chains_no_error += not fb.error_types
        if not ok:
            if corrections or augment_shares:
                c = fb.correction
                left_out["contradicts_gold" if c.answer is not None and item.example.answer
                         is not None and c.steps else "unreadable_or_empty"] += 1
            continue
        correction = format_chain(fb.correction.answer or "", list(fb.correction.steps))
        if corrections:
            pairs.append(Pair(error_types_prompt(q, reorder_chain(correction, order)),
                              error_types_text([]), CRITIC_TERM, f"{fb.id}:correction"))
            counts.corrections += 1
        for kind in sorted(augment_shares):
            if rng.random() >= augment_shares[kind]:
                continue
            made = augment(item, kind, rng, vocab_sports, facts.get(item.example.task, []))
            if made is None:
                skipped[kind] += 1
                continue
            text, code = made
            pairs.append(Pair(error_types_prompt(q, reorder_chain(text, order)),
                              error_types_text([code]), CRITIC_TERM, f"{fb.id}:{kind}"))
            augmented[kind] += 1
    counts.corrections_left_out = dict(sorted(left_out.items()))
    counts.augmented = dict(sorted(augmented.items()))
    counts.augment_skipped = dict(sorted(skipped.items()))
    if balance == "resample":
        pairs, counts.resampled = resample(pairs, rng)
    elif balance == "reweight":
        pairs, counts.weights = reweight(pairs)
    no_error = error_types_text([])
    counts.no_error_share = round(sum(p.target == no_error for p in pairs) / max(1, len(pairs)),
                                  4)
    return pairs, counts


def reweight(pairs: list[Pair]) -> tuple[list[Pair], dict[str, float]]:
    """Weigh each class ('no error' or error) so that it holds half the pairs' total weight,
    the mean weight staying 1: a pair of a class of n out of N weighs N / (2 n). A single
    class is left at weight 1.

    >>> p = [Pair("a", "no error", "error_types")] + [Pair(s, "factual error", "error_types")
    ...                                             for s in "bcd"]
    >>> out, w = reweight(p); [x.weight for x in out], w
    ([2.0, 0.6667, 0.6667, 0.6667], {'no_error': 2.0, 'error': 0.6667})
    """
    from dataclasses import replace

    no_error = error_types_text([])
    n_ok = sum(p.target == no_error for p in pairs)
    n_bad = len(pairs) - n_ok
    if not n_ok or not n_bad:
        return pairs, {}
    w_ok = round(len(pairs) / (2 * n_ok), 4)
    w_bad = round(len(pairs) / (2 * n_bad), 4)
    return ([replace(p, weight=w_ok if p.target == no_error else w_bad) for p in pairs],
            {"no_error": w_ok, "error": w_bad})


def resample(pairs: list[Pair], rng: random.Random) -> tuple[list[Pair], int]:
    """Repeat pairs of the smaller class ('no error' or error) until the two are equal:
    whole passes over the smaller class, then a random remainder of it (without repeats).

    >>> p = [Pair("a", "no error", "error_types")] + [Pair(s, "factual error", "error_types")
    ...                                             for s in "bcd"]
    >>> out, added = resample(p, random.Random(0)); added, sum(x.target == "no error" for x in out)
    (2, 3)
    """
    no_error = error_types_text([])
    ok = [p for p in pairs if p.target == no_error]
    bad = [p for p in pairs if p.target != no_error]
    small, large = (ok, bad) if len(ok) < len(bad) else (bad, ok)
    if not small:
        return pairs, 0
    gap = len(large) - len(small)
    extra = small * (gap // len(small)) + rng.sample(small, gap % len(small))
    return pairs + extra, len(extra)


def with_label_words(pairs: Sequence[Pair], words: Sequence[str]) -> tuple[list[Pair], int]:
    """The critic's pairs (term ``error_types``) with their label texts written as label
    ``words`` (``data.critic_label_words``), and how many were rewritten; other terms' pairs
    are left as they are. A target that is no label text raises ValueError naming its pair.

    >>> out, n = with_label_words([Pair("q", "factual error, missing facts", "error_types"),
    ...                            Pair("q", "no error", "error_types"), Pair("q", "x", "answer")],
    ...                           ("ok", "f", "m", "i", "l"))
    >>> [x.target for x in out], n
    (['f, m', 'ok', 'x'], 2)
    """
    from dataclasses import replace

    from feedback_data.text.instructions import parse_error_types_text

    out: list[Pair] = []
    n = 0
    for p in pairs:
        if p.term != CRITIC_TERM:
            out.append(p)
            continue
        codes = parse_error_types_text(p.target)
        if codes is None:
            raise ValueError(f"pair {p.id or p.source[:60]!r} of term {CRITIC_TERM!r}: "
                             f"target {p.target!r} is no error-types label")
        out.append(replace(p, target=error_types_text(codes, words)))
        n += 1
    return out, n


def _as_item(item: FeedbackItem, text: str, codes: list[str], tag: str) -> FeedbackItem:
    chain = item.chain.model_copy(update={"id": f"{item.chain.id}:{tag}", "text": text})
    fb = item.feedback.model_copy(update={"id": f"{item.feedback.id}:{tag}",
                                          "error_types": codes, "reasons": {}})
    return item.model_copy(update={"chain": chain, "feedback": fb})


def critic_val_items(items: Sequence[FeedbackItem], seed: int = 0,
                     vocab_sports: Sequence[str] = ()) -> list[FeedbackItem]:
    """Synthetic validation records from held-out ``items``: each gold-consistent
    correction as a 'no error' chain, and one counterfactual edit of it (a kind drawn per
    record) with its error type, so validation sees chains of both kinds on every question
    it holds out."""
    rng = random.Random(seed * 7_919 + 34)
    good = [i for i in items if gold_consistent_correction(i)]
    facts = _facts_by_task(good)
    out: list[FeedbackItem] = []
    kinds = sorted(AUGMENTATIONS)
    for item in good:
        c = item.feedback.correction
        out.append(_as_item(item, format_chain(c.answer or "", list(c.steps)), [],
                            "correction"))
        kind = kinds[rng.randrange(len(kinds))]
        made = augment(item, kind, rng, vocab_sports, facts.get(item.example.task, []))
        if made is not None:
            out.append(_as_item(item, made[0], [made[1]], kind))
    return out


def sports_of_vocab(tasks: Sequence[str]) -> list[str]:
    """vocab.json's sports when Sports is among ``tasks`` (for the fact swap), else []."""
    if "sports_understanding" not in tasks:
        return []
    from feedback_data.sources.bigbench import load_sports_vocab

    return list(load_sports_vocab().get("sports", []))
