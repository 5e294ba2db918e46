"""Step labels read from error descriptions: which steps the annotators say are wrong.

The paper's annotators describe each error naming its step ("In step 1 the fact states ...",
"In steps 1 and 2, the explanation does not mention ..."). This module turns those
descriptions into step numbers, conservatively: a mention it cannot read with certainty
gives no label, never a guess. Pure functions; docs/step_labels.md has the phrasings, the
policy and the precision measured by hand.

Read (case-insensitive; numbers are 1-based as written):
  - "step 2", "Step 2:", "step:2", "step #2", "step no. 2", "step two", "instep 2" (a typo);
  - lists: "steps 1 and 2", "step 1 and step 2", "steps 1, 2, and 3", "steps 1,2 & 3",
    "steps 1 and 2 and 3";
  - ranges: "steps 1-3", "steps 1–3", "steps 1 to 3", "steps 1 through 3";
  - ordinals: "the first step", "the 2nd step", "the first and second steps", "the last
    step" / "the final step" (the chain's last);
  - "1 and 2 steps" (a list of two or more numbers before "steps");
  - the whole chain: "all (of) (the) steps", "every step", "each step", "the given steps",
    "both steps" (only in a chain of exactly two steps).
Refused (the description is ambiguous, the record gets no label):
  - "steps 1 or 2", "steps 1/2" (either one);
  - "after step 2", "before step 2", "between steps 1 and 2", "except step 2", "other than
    step 2", "besides step 2" (the error is not in the named step);
  - "step 1 is correct" and the like (a named step that is right);
  - a count, "in 3 steps" (one number before "steps");
  - "both steps" in a chain that does not have exactly two.
Ignored (not a step reference): "step" inside a word or a hyphenated term ("stepover",
"eurostep", "side-step three"), "step" with no number ("the step is the fact").

Policy (:func:`steps_from_descriptions`): each selected error type's description must name
at least one step, all within the chain's steps; the wrong steps are the union of the steps
named by Factual Error, Missing Facts and Logical Inconsistency, and the first wrong step is
the smallest of them (0-based). Irrelevant Facts names a step that is true but does not bear
on the question, the "neutral" rating of the step ratings, so it follows the same
``neutral_is_correct`` switch as :mod:`feedback_data.text.step_policy`: by default its steps are
not wrong (and its description need not locate a step). Descriptions never give -1: a record
whose descriptions name only neutral steps gets no label ("only_neutral_steps"), since the
annotators did find an error. A mention of one step followed by words about another step
(:func:`named_step_mismatch`, a numbering slip) also gives no label.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from feedback_data.records.schema import ERROR_CODES, ERROR_NAMES

NEUTRAL_TYPES = frozenset({"IR"})
LAST = -1  # "the last step", resolved once the chain's step count is known

_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
          "eight": 8, "nine": 9, "ten": 10}
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4,
             "4th": 4, "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7,
             "eighth": 8, "8th": 8, "ninth": 9, "9th": 9, "tenth": 10, "10th": 10,
             "last": LAST, "final": LAST}
_DIGITS_ONLY = r"\d+(?!\d)"
_NUM = r"(?:\d+(?!\d)|(?:" + "|".join(_WORDS) + r")\b)"
# A list after "step(s)": numbers joined by commas, "and", "&", ranges, "or" (refused later),
# each optionally repeated with its own "step" ("step 1 and step 2").
_SEP = r"(?:\s*,\s*and\s+|\s*,\s*|\s*and\s+|\s*&\s*|\s*(?:-|–|—)\s*|\s+to\s+|\s+through\s+" \
       r"|\s+or\s+|\s*/\s*)"
_STEP = r"(?:(?<![\w\-–])(?:in)?steps?)"
_MENTION = re.compile(
    rf"{_STEP}\s*(?:no\.?\s*|number\s+|#\s*)?[:(]?\s*(?P<list>{_NUM}"
    rf"(?:{_SEP}(?:steps?\s*{_NUM}|{_DIGITS_ONLY}))*)",
    re.IGNORECASE)
_ORD = "|".join(sorted(_ORDINALS, key=len, reverse=True))
_ORDINAL_MENTION = re.compile(
    rf"(?<![\w\-])(?P<list>(?:{_ORD})(?:(?:\s*,\s*|\s+and\s+|\s*,\s*and\s+|\s*&\s*)"
    rf"(?:the\s+)?(?:{_ORD}))*)\s+steps?\b", re.IGNORECASE)
_NUMBERS_BEFORE = re.compile(
    rf"(?<![\w.\-])(?P<list>{_DIGITS_ONLY}(?:(?:\s*,\s*|\s+and\s+|\s*,\s*and\s+|\s*&\s*)"
    rf"{_DIGITS_ONLY})+)\s+steps\b", re.IGNORECASE)
_COUNT = re.compile(r"(?<![\w.\-])\d+\s+steps\b", re.IGNORECASE)
_WHOLE = re.compile(r"(?<![\w\-])(?:all\s+(?:of\s+)?(?:the\s+)?steps|every\s+step|each\s+step"
                    r"|(?:the\s+)?given\s+steps)\b", re.IGNORECASE)
_BOTH = re.compile(r"(?<![\w\-])both\s+(?:of\s+)?(?:the\s+)?steps\b", re.IGNORECASE)
_NOT_IN = re.compile(r"\b(?:after|before|between|except|besides|beyond|other\s+than|apart\s+from"
                     r"|rather\s+than|instead\s+of)\s+(?:the\s+)?$", re.IGNORECASE)
_RIGHT = re.compile(r"^\s*,?\s*(?:is|are|was|were|seems?|looks?)\s+(?:also\s+)?(?:correct|true"
                    r"|right|fine|accurate|valid|ok|okay)\b", re.IGNORECASE)
_NUMBER_IN_LIST = re.compile(rf"{_NUM}|-|–|—|\bto\b|\bthrough\b|\bor\b|/", re.IGNORECASE)


@dataclass(frozen=True)
class Mentions:
    """The 1-based steps a text names (``LAST`` for the chain's last step; ``whole``: every
    step; ``both``: the two steps of a two-step chain), or why it cannot be read."""

    steps: frozenset[int] = frozenset()
    whole: bool = False
    both: bool = False
    ambiguous: str | None = None


def _number(token: str) -> int:
    token = token.lower()
    return int(token) if token.isdigit() else _WORDS.get(token, _ORDINALS.get(token, 0))


def _read_list(text: str, ordinal: bool = False) -> tuple[set[int], str | None]:
    """'1, 2 and 4' -> {1, 2, 4}; '1-3' -> {1, 2, 3}; '1 or 2' -> ambiguous."""
    if ordinal:
        return {_number(t) for t in re.findall(_ORD, text, re.IGNORECASE)}, None
    out: set[int] = set()
    pending_range = False
    last: int | None = None
    for tok in _NUMBER_IN_LIST.findall(text):
        low = tok.lower()
        if low in ("or", "/"):
            return set(), "either_or"
        if low in ("-", "–", "—", "to", "through"):
            pending_range = True
            continue
        value = _number(tok)
        if pending_range and last is not None:
            if value < last:
                return set(), "descending_range"
            out.update(range(last, value + 1))
        else:
            out.add(value)
        pending_range = False
        last = value
    return out, None


def parse_step_mentions(text: str) -> Mentions:
    """The steps one description names, or why it is ambiguous (see the module docstring).

    >>> sorted(parse_step_mentions("In steps 1 and 3, the facts imply ...").steps)
    [1, 3]
    >>> parse_step_mentions("In step 1 or 2 the explanation ...").ambiguous
    'either_or'
    """
    steps: set[int] = set()
    for m in _MENTION.finditer(text):
        before = text[max(0, m.start() - 20):m.start()]
        if _NOT_IN.search(before):
            return Mentions(ambiguous="not_the_named_step")
        if _RIGHT.match(text[m.end():m.end() + 30]):
            return Mentions(ambiguous="named_step_is_right")
        found, why = _read_list(m.group("list"))
        if why:
            return Mentions(ambiguous=why)
        steps |= found
    for m in _ORDINAL_MENTION.finditer(text):
        if _NOT_IN.search(text[max(0, m.start() - 25):m.start()]):
            return Mentions(ambiguous="not_the_named_step")
        if _RIGHT.match(text[m.end():m.end() + 30]):
            return Mentions(ambiguous="named_step_is_right")
        steps |= _read_list(m.group("list"), ordinal=True)[0]
    listed = list(_NUMBERS_BEFORE.finditer(text))
    for m in listed:
        steps |= _read_list(m.group("list"))[0]
    listed_spans = [(m.start(), m.end()) for m in listed]
    for m in _COUNT.finditer(text):
        if not any(a <= m.start() < b for a, b in listed_spans):
            return Mentions(ambiguous="step_count")
    return Mentions(frozenset(steps), whole=bool(_WHOLE.search(text)),
                    both=bool(_BOTH.search(text)))


@dataclass(frozen=True)
class DescribedSteps:
    """What a record's descriptions say about its steps (0-based indices).

    ``first_wrong`` is the first wrong step, None when the descriptions give no label
    (``why`` says which rule refused it); ``by_type`` holds the steps each type named.
    """

    wrong: tuple[int, ...] = ()
    neutral: tuple[int, ...] = ()
    first_wrong: int | None = None
    why: str | None = None
    by_type: dict[str, tuple[int, ...]] = field(default_factory=dict)


def _resolve(m: Mentions, n_steps: int) -> tuple[set[int] | None, str | None]:
    """1-based mentions -> 0-based steps of an ``n_steps`` chain, or why not."""
    out: set[int] = set()
    if m.whole:
        out |= set(range(n_steps))
    if m.both:
        if n_steps != 2:
            return None, "both_steps_not_two"
        out |= {0, 1}
    for s in m.steps:
        if s == LAST:
            out.add(n_steps - 1)
        elif 1 <= s <= n_steps:
            out.add(s - 1)
        else:
            return None, "described_step_out_of_range"
    return out, None


_STOP = frozenset("""a an the is are was were be been being of in on at to for from by with as
and or but not no nor so than then that this these those it its he she his her they their them
there which who whom what when where why how does do did done has have had also only very
more most step steps explanation explanations fact facts mention mentions mentioned mentioning
state states stated statement say says said imply implies implied answer should yes
incorrect correct wrong true false irrelevant question provided given""".split())


def content_words(text: str) -> set[str]:
    """Lower-case words of three letters or more, without function words and the words
    descriptions use about steps themselves ('fact', 'mention', 'incorrect', ...)."""
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2 and w not in _STOP}


def named_step_mismatch(text: str, steps: Sequence[str]) -> str | None:
    """A mention of ONE step whose following words (up to the next mention) are about another
    step: at least half of that step's content words and under a quarter of the named one's.
    That is a numbering slip ("In step 1, double plays are not ..." about step 2), so the
    record gets no label. Returns the offending mention, None when every one fits.

    >>> named_step_mismatch("In step 1, double plays are not when the ball is caught.",
    ...                     ["Manny Machado is a shortstop.", "Double plays are when the "
    ...                      "ball is caught by the fielder."])
    'step 1'
    """
    found = list(_MENTION.finditer(text))
    words = [content_words(s) for s in steps]
    for k, m in enumerate(found):
        named, why = _read_list(m.group("list"))
        if why or len(named) != 1:
            continue
        s = next(iter(named))
        if not 1 <= s <= len(steps):
            continue
        said = content_words(text[m.end():found[k + 1].start() if k + 1 < len(found)
                                  else len(text)])
        if len(said) < 3:
            continue
        share = [len(said & w) / len(w) if w else 0.0 for w in words]
        if share[s - 1] < 0.25 and any(x >= 0.5 for j, x in enumerate(share) if j != s - 1):
            return m.group(0).strip()
    return None


def steps_from_descriptions(reasons: Mapping[str, str], error_types: Sequence[str],
                            steps: Sequence[str], neutral_is_correct: bool = True
                            ) -> DescribedSteps:
    """The wrong (and neutral) steps the descriptions of the selected ``error_types`` name
    in a chain of ``steps``, and the first wrong step; see the module docstring.

    >>> d = steps_from_descriptions({"FE": "In step 2, X is false.",
    ...                              "MF": "Steps 2 and 3 do not mention Y."}, ["FE", "MF"],
    ...                             ["A.", "X.", "Z."])
    >>> d.wrong, d.first_wrong
    ((1, 2), 1)
    >>> steps_from_descriptions({"FE": "In step 4, ..."}, ["FE"], ["A.", "B.", "C."]).why
    'described_step_out_of_range'
    """
    n_steps = len(steps)
    if n_steps == 0:
        return DescribedSteps(why="chain_without_steps")
    if not error_types:
        return DescribedSteps(why="no_error_type")
    wrong: set[int] = set()
    neutral: set[int] = set()
    by_type: dict[str, tuple[int, ...]] = {}
    for code in ERROR_CODES:
        if code not in error_types:
            continue
        is_neutral = code in NEUTRAL_TYPES and neutral_is_correct
        text = " ".join((reasons.get(code) or "").split())
        if not text:
            if is_neutral:
                continue
            return DescribedSteps(why="error_type_without_description")
        mentions = parse_step_mentions(text)
        if mentions.ambiguous:
            return DescribedSteps(why=f"ambiguous_step_mention:{mentions.ambiguous}")
        named, why = _resolve(mentions, n_steps)
        if named is None:
            return DescribedSteps(why=why)
        if not named:
            if is_neutral:
                continue
            return DescribedSteps(why="description_without_step")
        if named_step_mismatch(text, steps):
            return DescribedSteps(why="named_step_mismatch")
        by_type[code] = tuple(sorted(named))
        (neutral if is_neutral else wrong).update(named)
    if not wrong:
        return DescribedSteps(neutral=tuple(sorted(neutral)), why="only_neutral_steps",
                              by_type=by_type)
    return DescribedSteps(tuple(sorted(wrong)), tuple(sorted(neutral - wrong)), min(wrong),
                          by_type=by_type)


_TYPE_PREFIX = re.compile(r"(?:^|(?<=\s))(" + "|".join(re.escape(n) for n in
                                                        ERROR_NAMES.values()) + r"):\s*",
                          re.IGNORECASE)
_NAME_TO_CODE = {name.lower(): code for code, name in ERROR_NAMES.items()}


def split_description_text(text: str) -> dict[str, str]:
    """The inverse of :func:`feedback_data.text.instructions.description_text`: 'Factual Error: a
    Missing Facts: b' -> {'FE': 'a', 'MF': 'b'}; {} when no 'Type:' prefix is found.

    >>> split_description_text("Factual Error: In step 1, x. Missing Facts: In step 2, y.")
    {'FE': 'In step 1, x.', 'MF': 'In step 2, y.'}
    """
    parts = list(_TYPE_PREFIX.finditer(text))
    out: dict[str, str] = {}
    for i, m in enumerate(parts):
        end = parts[i + 1].start() if i + 1 < len(parts) else len(text)
        code = _NAME_TO_CODE[m.group(1).lower()]
        out[code] = (out.get(code, "") + " " + text[m.end():end]).strip()
    return out


def first_wrong_from_description(text: str, steps: Sequence[str],
                                 neutral_is_correct: bool = True) -> int | None:
    """A critic's description (the text the description instruction trains) -> its first
    wrong step: -1 for 'no error', else the same policy as the labels (per 'Type:' part; a
    text without a type prefix counts as one wrong-step description). None when the text
    names no step the chain has, or is ambiguous.

    >>> first_wrong_from_description("Factual Error: In step 2, the fact is wrong.",
    ...                              ["A.", "B.", "C."])
    1
    >>> first_wrong_from_description("no error", ["A.", "B."])
    -1
    """
    from feedback_data.text.instructions import NO_ERROR

    text = " ".join(text.split())
    if not text:
        return None
    parts = split_description_text(text)
    if not parts:
        if text.lower().startswith(NO_ERROR):
            return -1
        parts = {"FE": text}
    return steps_from_descriptions(parts, list(parts), steps, neutral_is_correct).first_wrong
