"""Answer types: how a task's answers are written, read from a chain, normalized and compared.

Three types (a task spec names one):

- ``yes_no``: 'yes' or 'no' (plausible / implausible, true / false map to them). Chains are
  read by :func:`feedback_data.text.chain_format.parse_chain`, the built-in tasks' parser, and
  what it leaves unread ('answer is: no', 'answer is true') as the other types are.
- ``multiple_choice``: the options are shown in the question (``... Options: (A) x (B) y``)
  and kept in ``Example.meta['options']``; an answer is the option's letter ('B'), written
  as the letter or the option's text.
- ``free_form``: a short answer, normalized by one of :data:`NORMALIZERS` (``number``: '3',
  'three', '3.0' -> '3'; ``text``: lower case without punctuation or articles; ``exact``:
  whitespace only). Other accepted gold answers are ``Example.meta['aliases']``.

Answers are stored normalized, so a vote, an accuracy or a comparison works on plain
strings; :func:`answers_match` is the one comparison (a correction against the gold, a
prediction against the gold). A record says its answer type in ``Example.meta
['answer_format']`` (absent: yes/no, as for every record of the built-in tasks), so anyone
holding an Example can read its answers without looking the task up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from feedback_data.text.chain_format import parse_chain, split_steps

ANSWER_TYPES: tuple[str, ...] = ("yes_no", "multiple_choice", "free_form")
FORMAT_KEY = "answer_format"
OPTIONS_KEY = "options"
ALIASES_KEY = "aliases"
OPTIONS_LABEL = "Options:"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_YES_NO = {"yes": "yes", "no": "no", "true": "yes", "false": "no", "plausible": "yes",
           "implausible": "no"}


def _collapse(text: str) -> str:
    return " ".join(str(text).split())


def normalize_exact(text: str) -> str | None:
    """Whitespace collapsed, nothing else: ' New  York ' -> 'New York'."""
    return _collapse(text) or None


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = re.compile(r"[^\w\s]")


def normalize_text(text: str) -> str | None:
    """Lower case, no punctuation, no articles (SQuAD's normalisation): 'The Eiffel Tower.'
    -> 'eiffel tower'."""
    return _collapse(_ARTICLES.sub(" ", _PUNCT.sub(" ", str(text).lower()))) or None


_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate(
    "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if w != "_"}
_NUMBER = re.compile(r"[-+]?\$?\d[\d,]*(?:\.\d+)?")


def _words_number(text: str) -> int | None:
    """The first run of number words: 'twenty-one apples' -> 21, 'a hundred' -> 100."""
    value: int | None = None
    for word in re.findall(r"[a-z]+", text.lower().replace("-", " ")):
        if word in _UNITS or word in _TENS:
            value = (value or 0) + _UNITS.get(word, _TENS.get(word, 0))
        elif word == "hundred":
            value = (value or 1) * 100
        elif value is not None:
            break
    return value


def normalize_number(text: str) -> str | None:
    """The first number in ``text``, digits or words: '3', 'three', '3.0', '$1,000' ->
    '3', '3', '3', '1000'; None when there is none."""
    match = _NUMBER.search(str(text))
    if match:
        try:
            value = Decimal(match.group().replace("$", "").replace(",", ""))
        except InvalidOperation:
            return None
        if value == value.to_integral_value():
            return str(int(value))
        return format(value.normalize(), "f")
    words = _words_number(str(text))
    return None if words is None else str(words)


NORMALIZERS: dict[str, Callable[[str], str | None]] = {
    "number": normalize_number, "text": normalize_text, "exact": normalize_exact}


@dataclass(frozen=True)
class AnswerFormat:
    """How one task's answers look (see the module docstring)."""

    type: str = "yes_no"
    normalizer: str | None = None  # free_form only
    pattern: str | None = None  # a regex with a group 'answer' that reads it from a chain

    def __post_init__(self) -> None:
        if self.type not in ANSWER_TYPES:
            raise ValueError(f"answer type must be one of {', '.join(ANSWER_TYPES)}, "
                             f"got {self.type!r}")
        if self.type == "free_form" and self.normalizer not in NORMALIZERS:
            raise ValueError(f"a free_form answer needs a normalizer: one of "
                             f"{', '.join(NORMALIZERS)}, got {self.normalizer!r}")
        if self.type != "free_form" and self.normalizer is not None:
            raise ValueError(f"normalizer applies to free_form answers only, not {self.type}")
        if self.pattern is not None:
            try:
                compiled = re.compile(self.pattern, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression ({exc})") from None
            if "answer" not in compiled.groupindex:
                raise ValueError("pattern needs a named group 'answer', e.g. "
                                 "'answer is (?P<answer>[^.]+)'")

    @property
    def builtin_parser(self) -> bool:
        """True when chains are read exactly as the built-in tasks' chains are."""
        return self.type == "yes_no" and self.pattern is None

    def to_meta(self) -> dict[str, Any]:
        return {k: v for k, v in (("type", self.type), ("normalizer", self.normalizer),
                                  ("pattern", self.pattern)) if v is not None}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any] | None) -> AnswerFormat:
        raw = (meta or {}).get(FORMAT_KEY)
        if not raw:
            return YES_NO
        return cls(type=raw.get("type", "yes_no"), normalizer=raw.get("normalizer"),
                   pattern=raw.get("pattern"))


YES_NO = AnswerFormat()


def format_of(example: Any) -> AnswerFormat:
    """The answer format of an Example (its meta), of an AnswerFormat itself, or yes/no
    for None and for every record without one (the built-in tasks' records)."""
    if isinstance(example, AnswerFormat):
        return example
    if example is None:
        return YES_NO
    fmt = getattr(example, "answer_format", None)  # a task spec
    if isinstance(fmt, AnswerFormat):
        return fmt
    return AnswerFormat.from_meta(getattr(example, "meta", None))


def letter(index: int) -> str:
    if not 0 <= index < len(LETTERS):
        raise ValueError(f"at most {len(LETTERS)} options, got option {index + 1}")
    return LETTERS[index]


def render_options(options: list[str]) -> str:
    """'Options: (A) x (B) y', as multiple-choice questions show them."""
    return OPTIONS_LABEL + " " + " ".join(f"({letter(i)}) {_collapse(o)}"
                                          for i, o in enumerate(options))


def options_from_question(question: str) -> list[str]:
    """The options of a question made by :func:`render_options` ([] when it has none)."""
    head, sep, tail = question.rpartition(OPTIONS_LABEL)
    if not sep:
        return []
    parts = re.split(r"\(([A-Z])\)\s*", tail)
    letters, texts = parts[1::2], [p.strip() for p in parts[2::2]]
    return texts if letters == list(LETTERS[:len(letters)]) else []


def options_of(example: Any) -> list[str]:
    meta = getattr(example, "meta", None) or {}
    if meta.get(OPTIONS_KEY):
        return [str(o) for o in meta[OPTIONS_KEY]]
    return options_from_question(getattr(example, "question", "") or "")


def _strip_answer(raw: str) -> str:
    return _collapse(raw).strip("\"'“”‘’").strip().rstrip(".,;:!").strip("\"'“”‘’").strip()


def normalize_choice(raw: str, options: list[str]) -> str | None:
    """The letter of the option ``raw`` names: its text ('05/01/2021'), its letter ('B',
    '(B)', 'B)') or both ('(B) 05/01/2021'); None when it names none."""
    text = _strip_answer(raw)
    if not text:
        return None
    by_text = {normalize_text(o) or _collapse(o).lower(): letter(i)
               for i, o in enumerate(options)}
    key = normalize_text(text) or text.lower()
    if key in by_text:
        return by_text[key]
    match = re.fullmatch(r"\(?([A-Za-z])\)?(?:(?<=\))\s*(.*)|[\s.:]+(.*))?", text)
    if match:
        found = match.group(1).upper()
        trailing = match.group(2) or match.group(3) or ""
        if found in LETTERS[:len(options)] and (
                not trailing or normalize_text(trailing) == normalize_text(
                    options[LETTERS.index(found)])):
            return found
    return None


def normalize_answer(raw: Any, example: Any = None) -> str | None:
    """``raw`` (a gold field or the text after 'the answer is') as the task's canonical
    answer; None when it is not an answer of this type."""
    if raw is None:
        return None
    fmt = format_of(example)
    if isinstance(raw, bool):
        raw = "yes" if raw else "no"
    if fmt.type == "yes_no":
        return _YES_NO.get(_strip_answer(str(raw)).lower())
    if fmt.type == "multiple_choice":
        return normalize_choice(str(raw), options_of(example))
    return NORMALIZERS[fmt.normalizer or "exact"](_strip_answer(str(raw)))


_ANSWER_IS = re.compile(r"(?:\b(?:so|thus|therefore|hence)\b[\s,]*)?(?:\bthe\s+)?"
                        r"answer\s+is\s*:?\s*", re.IGNORECASE)
_BECAUSE = re.compile(r"\s*\bbecause\b[\s,:]*", re.IGNORECASE)
_SENTENCE = re.compile(r"[.!?](?=\s|$)|\n")
_LEAD_IN = re.compile(r"[\s,;:]*\b(so|thus|therefore|hence)\b[\s,]*$", re.IGNORECASE)


def _generic_parse(text: str, example: Any, fmt: AnswerFormat
                   ) -> tuple[str | None, list[str], bool]:
    if fmt.pattern is not None:
        match = re.search(fmt.pattern, text, re.IGNORECASE)
        if match is None:
            return None, split_steps(text), False
        answer = normalize_answer(match.group("answer"), example)
        steps = split_steps(text[:match.start()] + " " + text[match.end():])
        return answer, steps, answer is not None
    match = _ANSWER_IS.search(text)
    if match is None:
        return None, split_steps(text), False
    rest = text[match.end():]
    because = _BECAUSE.search(rest)
    before = _LEAD_IN.sub("", text[:match.start()]).strip()
    if because is not None:
        raw, after = rest[:because.start()], rest[because.end():]
    else:
        end = _SENTENCE.search(rest)
        raw, after = (rest[:end.start()], rest[end.end():]) if end else (rest, "")
    answer = normalize_answer(raw, example)
    if answer is None:
        return None, split_steps(text), False
    # "The answer is X because <steps>", or reasoning first: "<steps> So the answer is X."
    steps = split_steps(after) if after.strip() else split_steps(before)
    return answer, steps, True


def parse_answer_chain(text: str, example: Any = None) -> tuple[str | None, list[str], bool]:
    """(answer, steps, parsed) of a chain written for ``example``'s task.

    Yes/no tasks use the built-in parser first; what it cannot read ('So the answer is: no',
    'The answer is true', BBH's forms) and the other types read 'the answer is[:] X'
    (followed by 'because <steps>', or ending a reasoning-first chain) and normalize X
    (a multiple-choice X may be '(A)', 'A)', 'A' or the option's text; a trailing period or
    quote is dropped).
    """
    fmt = format_of(example)
    if fmt.builtin_parser:
        parsed = parse_chain(text)
        if parsed[2]:
            return parsed
        found = _generic_parse(text, example, fmt)
        return found if found[2] else parsed
    return _generic_parse(text, example, fmt)


def answers_match(example: Any, a: str | None, b: str | None) -> bool:
    """Whether two answers (normalized, as stored) are the same answer to ``example``.

    None never matches; a gold alias (``meta['aliases']``) matches the gold answer.
    """
    if a is None or b is None:
        return False
    if a == b:
        return True
    meta = getattr(example, "meta", None) or {}
    gold = {getattr(example, "answer", None), *meta.get(ALIASES_KEY, [])}
    return a in gold and b in gold


def answer_text(answer: str | None) -> str:
    """How an answer is shown to a person ('unknown' when there is none)."""
    return answer if answer else "unknown"
