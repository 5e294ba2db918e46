"""The critic's closed label set and P(no error): the one place every caller reads them.

The error-types instruction trains a model to write 'no error' or the canonical text of the
error types a chain has, e.g. 'factual error, missing facts' (``error_types_text``). A
record may carry several types (about a quarter of the paper's erroneous records do), so the
labels a model can write are 'no error' plus every non-empty combination of the four types:
1 + 15 = 16 texts. Scoring only the five single labels would leave every multi-type label
unscored, and with it the probability mass the model puts there.

P(no error) is the softmax of the sixteen label scores, read at 'no error' (index 0). The
argmax label decides wsc's weight. Calibration, wsc, wsc_soft, the annotation queue, the ML
backend and validation during training all call :func:`no_error_probabilities` or
:func:`no_error_probability` from here.

How a label's score is read from its tokens (:data:`SCORINGS`, chosen on validation and
stored with the checkpoint in ``critic.json``, :class:`CriticReading`):

- ``sum``: the complete sequence's log-probability (the sum over its tokens and EOS). A
  longer label pays for every token: in the shipped tokenizer 'no error' is 5 tokens and
  'missing facts' 3, so an under-trained model is pushed away from 'no error'.
- ``mean``: that sum over the number of tokens (length-normalised), so no label is
  punished for its length.
- ``first_token``: only the first token's log-probability; labels that share a first token
  (every combination starting with 'factual error') share its mass, counted once.

Or the critic is trained to write single-token label words instead of the texts
(``data.critic_label_words``, e.g. 'correct', 'fact', 'missing', 'irrelevant', 'conflict'; a
multi-type label is its words joined by ', '): no class is longer to write than another, in
training as in reading. The words are stored in ``critic.json`` (``label_words``), and every
reader scores the labels the critic was trained on (:attr:`CriticReading.labels`).

A temperature T (fitted on validation, :func:`fit_temperature`) divides the scores before the
softmax: softmax(score / T). The checkpoint's ``critic.json`` is applied wherever a scorer
is read (:func:`reading_of`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

from feedback_data.records.schema import ERROR_CODES
from feedback_data.text.instructions import error_types_text

# The codes of each label: [] for 'no error', then the single types, pairs, triples and all
# four, in canonical order.
LABEL_CODES: tuple[tuple[str, ...], ...] = (
    (), *(c for size in range(1, len(ERROR_CODES) + 1) for c in combinations(ERROR_CODES, size)))


def label_set(words: Sequence[str] | None = None) -> tuple[str, ...]:
    """The sixteen labels a critic writes, one per :data:`LABEL_CODES` entry, as texts or,
    with label ``words``, as those words.

    >>> label_set(("ok", "f", "m", "i", "l"))[:6]
    ('ok', 'f', 'm', 'i', 'l', 'f, m')
    """
    return tuple(error_types_text(codes, words) for codes in LABEL_CODES)


ERROR_LABELS: tuple[str, ...] = label_set()


class ChoiceScorer(Protocol):
    """Anything that scores fixed choices: log p(choice | prompt) per prompt and choice."""

    def score_choices(self, prompts: list[str], choices: list[str],
                      batch_size: int | None = None) -> list[list[float]]: ...


def label_probabilities(logps: Sequence[float]) -> list[float]:
    """Softmax of the labels' log-probabilities, computed stably.

    >>> [round(p, 3) for p in label_probabilities([0.0, 0.0, math.log(2.0)])]
    [0.25, 0.25, 0.5]
    """
    top = max(logps)
    exps = [math.exp(x - top) for x in logps]
    total = sum(exps)
    return [e / total for e in exps]


def no_error_probability(logps: Sequence[float], temperature: float = 1.0) -> float:
    """P('no error'): the first label's share of the softmax over every label scored, the
    scores divided by ``temperature`` first.

    >>> round(no_error_probability([0.0, math.log(3.0)], temperature=2.0), 4)
    0.366
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return label_probabilities([x / temperature for x in logps])[0]


Scoring = Literal["sum", "mean", "first_token"]
SCORINGS: tuple[str, ...] = get_args(Scoring)
# Written next to a critic's weights: how its P(no error) is read.
READING_FILE = "critic.json"


def check_label_words(words: Sequence[str]) -> None:
    """Label words are five distinct lowercase words (letters only): 'no error', FE, MF, IR,
    LI in that order. Raises ValueError saying which rule a word breaks."""
    if len(words) != len(ERROR_CODES) + 1:
        raise ValueError(f"label words: expected {len(ERROR_CODES) + 1} (no error, "
                         f"{', '.join(ERROR_CODES)}), got {len(words)}: {list(words)}")
    for w in words:
        if not isinstance(w, str) or not w.isalpha() or not w.islower():
            raise ValueError(f"label words: {w!r} is not one lowercase word (letters only)")
    if len(set(words)) != len(words):
        raise ValueError(f"label words: each class needs its own word, got {list(words)}")


def single_token_problems(tokenizer: Any, words: Sequence[str], encoder_decoder: bool
                          ) -> list[str]:
    """What keeps label ``words`` from being single tokens in ``tokenizer``, as training
    writes a target (a seq2seq target, or ' ' + word for a decoder-only model): one line per
    word that is not one token (EOS aside); [] when every word is one."""
    problems = []
    for w in words:
        if encoder_decoder:
            ids = [i for i in tokenizer(text_target=w)["input_ids"]
                   if i != tokenizer.eos_token_id]
        else:
            ids = list(tokenizer(" " + w, add_special_tokens=False)["input_ids"])
        if len(ids) != 1:
            problems.append(f"{w!r} is {len(ids)} tokens "
                            f"{tokenizer.convert_ids_to_tokens(ids)}")
    return problems


@dataclass(frozen=True)
class CriticReading:
    """How a critic's P(no error) is read: the label scoring, the temperature and the label
    words it was trained to write (None: the label texts, 'no error', 'factual error', ...)."""

    scoring: Scoring = "sum"
    temperature: float = 1.0
    label_words: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.scoring not in SCORINGS:
            raise ValueError(f"scoring must be one of {list(SCORINGS)}, got {self.scoring!r}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.label_words is not None:
            check_label_words(self.label_words)

    def as_dict(self) -> dict[str, Any]:
        """What a report or ``critic.json`` records: scoring and temperature, and the label
        words when there are any.

        >>> CriticReading("mean", 0.5).as_dict()
        {'scoring': 'mean', 'temperature': 0.5}
        """
        out: dict[str, Any] = {"scoring": self.scoring, "temperature": self.temperature}
        if self.label_words is not None:
            out["label_words"] = list(self.label_words)
        return out

    @property
    def labels(self) -> tuple[str, ...]:
        """The sixteen labels this critic is scored over (:func:`label_set`)."""
        return label_set(self.label_words)


def label_scores(token_logps: Sequence[Sequence[float]], scoring: str) -> list[float]:
    """Each label's score from its tokens' log-probabilities (EOS included), by ``scoring``
    (``sum`` or ``mean``; ``first_token`` is :func:`first_token_scores`, which needs the
    labels' first token ids).

    >>> label_scores([[-1.0, -2.0, -3.0], [-4.0]], "mean")
    [-2.0, -4.0]
    >>> label_scores([[-1.0, -2.0, -3.0], [-4.0]], "sum")
    [-6.0, -4.0]
    """
    if scoring == "sum":
        return [float(sum(t)) for t in token_logps]
    if scoring == "mean":
        return [float(sum(t)) / max(1, len(t)) for t in token_logps]
    raise ValueError(f"label_scores reads 'sum' or 'mean', got {scoring!r}")


def first_token_scores(token_logps: Sequence[Sequence[float]], first_ids: Sequence[int]
                       ) -> list[float]:
    """First-token scores with each first token counted once: a label whose first token
    (``first_ids``) an earlier label has gets -inf, so the softmax is over distinct tokens.

    >>> first_token_scores([[-1.0, -5.0], [-2.0, -1.0], [-2.0, -3.0]], [7, 8, 8])
    [-1.0, -2.0, -inf]
    """
    seen: set[int] = set()
    out: list[float] = []
    for row, tok in zip(token_logps, first_ids, strict=True):
        out.append(float(row[0]) if tok not in seen and row else -math.inf)
        seen.add(tok)
    return out


def read_scores(token_logps: Sequence[Sequence[float]], first_ids: Sequence[int],
                scoring: str) -> list[float]:
    """The sixteen label scores of one prompt under ``scoring``."""
    if scoring == "first_token":
        return first_token_scores(token_logps, first_ids)
    return label_scores(token_logps, scoring)


def binary_nll(probs: Sequence[float], no_error: Sequence[bool]) -> float:
    """Mean negative log-likelihood of the gold 'no error' / 'error' under P(no error)."""
    eps = 1e-12
    return -sum(math.log(max(eps, p if y else 1.0 - p))
                for p, y in zip(probs, no_error, strict=True)) / max(1, len(probs))


def fit_temperature(rows: Sequence[Sequence[float]], no_error: Sequence[bool],
                    grid: Sequence[float] | None = None) -> float:
    """The temperature minimising the binary NLL of P(no error) = softmax(row / T)[0] on
    held-out rows (label scores) with their gold; a grid of log-spaced values from 0.05 to
    20 (deterministic, no optimiser). The smallest T among equals wins; no rows gives 1.0.
    """
    if not rows:
        return 1.0
    grid = grid or [round(math.exp(math.log(0.05) + i * (math.log(400.0) / 120)), 6)
                    for i in range(121)]
    best_t, best = 1.0, math.inf
    for t in grid:
        nll = binary_nll([no_error_probability(r, t) for r in rows], no_error)
        if nll < best - 1e-12:
            best_t, best = t, nll
    return best_t


def write_reading(folder: str | Path, reading: CriticReading, extra: dict[str, Any] | None = None
                  ) -> Path:
    """Store ``reading`` (and what it was fitted on) as ``critic.json`` next to the weights."""
    path = Path(folder) / READING_FILE
    path.write_text(json.dumps({**reading.as_dict(), **(extra or {})}, indent=2) + "\n",
                    encoding="utf-8")
    return path


def load_reading(folder: str | Path) -> CriticReading:
    """The ``critic.json`` of a checkpoint folder; a folder without one reads 'sum', T 1."""
    path = Path(folder) / READING_FILE
    if not path.is_file():
        return CriticReading()
    data = json.loads(path.read_text(encoding="utf-8"))
    words = data.get("label_words")
    try:
        return CriticReading(data.get("scoring", "sum"), float(data.get("temperature", 1.0)),
                             tuple(words) if words is not None else None)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def reading_of(scorer: Any) -> CriticReading:
    """The reading a loaded critic carries: its ``critic_reading``, else the ``critic.json``
    of the folder it was loaded from (``info['path']``), else 'sum' at T 1; a wrapper
    (``backend``/``inner``: a served model's batcher) is looked through."""
    holders = (scorer, getattr(scorer, "backend", None), getattr(scorer, "inner", None))
    for holder in holders:
        reading = getattr(holder, "critic_reading", None)
        if isinstance(reading, CriticReading):
            return reading
    for holder in holders:
        info = getattr(holder, "info", None)
        if isinstance(info, dict) and info.get("path"):
            return load_reading(info["path"])
    return CriticReading()


def label_lengths_of(scorer: Any, labels: Sequence[str] = ERROR_LABELS) -> list[int]:
    """Target tokens of each of ``labels`` (EOS included) in the tokenizer of ``scorer`` (or
    of the model it wraps, ``inner``/``backend``)."""
    for holder in (scorer, getattr(scorer, "inner", None), getattr(scorer, "backend", None)):
        tokenizer = getattr(holder, "tokenizer", None)
        if tokenizer is not None:
            return [len(ids) for ids in label_token_ids(tokenizer, labels)]
    raise ValueError("length-normalised scoring needs the critic's tokenizer")


def label_token_ids(tokenizer: Any, labels: Sequence[str] = ERROR_LABELS) -> list[list[int]]:
    """The target token ids of each of ``labels`` (EOS included, as trained)."""
    return [list(ids) for ids in tokenizer(text_target=list(labels))["input_ids"]]


def argmax_label(logps: Sequence[float]) -> int:
    """Index of the most probable label; a tie goes to the earlier label ('no error' first)."""
    return max(range(len(logps)), key=lambda i: (logps[i], -i))


def reading_rows(rows: Sequence[Sequence[float]], reading: CriticReading,
                 label_lengths: Sequence[int] | None = None) -> list[list[float]]:
    """Complete-sequence log-probability rows -> the label scores ``reading`` asks for
    (``mean`` divides by each label's token count; ``first_token`` needs token rows and is
    read by :func:`read_scores` instead)."""
    if reading.scoring == "sum":
        return [list(r) for r in rows]
    if reading.scoring == "mean":
        if label_lengths is None:
            raise ValueError("length-normalised scoring needs the labels' token counts")
        return [[x / n for x, n in zip(r, label_lengths, strict=True)] for r in rows]
    raise ValueError("first-token scoring needs per-token log-probabilities "
                     "(training.recipe.validation.label_token_logps)")


def no_error_probabilities(scorer: ChoiceScorer, prompts: list[str],
                           batch_size: int | None = None,
                           reading: CriticReading | None = None) -> list[float]:
    """P('no error') for each error-types prompt, over the full :data:`ERROR_LABELS`, read
    as the critic's checkpoint says (``critic.json``: scoring and temperature)."""
    if not prompts:
        return []
    reading = reading or reading_of(scorer)
    rows = scorer.score_choices(prompts, list(reading.labels), batch_size=batch_size)
    return read_no_error(scorer, rows, reading)


def read_no_error(scorer: Any, rows: Sequence[Sequence[float]],
                  reading: CriticReading | None = None) -> list[float]:
    """P('no error') of each row of complete-sequence label log-probabilities (over the
    reading's :attr:`CriticReading.labels`, as ``scorer.score_choices`` returns them), read
    as ``scorer``'s ``critic.json`` says (or as ``reading`` says)."""
    reading = reading or reading_of(scorer)
    lengths = label_lengths_of(scorer, reading.labels) if reading.scoring == "mean" else None
    return [no_error_probability(r, reading.temperature)
            for r in reading_rows(rows, reading, lengths)]
