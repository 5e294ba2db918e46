"""The chain formats rhf emits and the one parser that reads them.

Two orders (``CHAIN_ORDERS``), both read by :func:`parse_chain`:

- ``answer_first`` (the released data's and the paper's form):
  ``The answer is <yes|no> because <step 1> <step 2> ...``
- ``reasoning_first``: ``<step 1> <step 2> ... So the answer is <yes|no>.`` A model trained on
  it writes the facts before it commits to an answer.

Sports Understanding answers may also say plausible/implausible; both map to yes/no.
"""

from __future__ import annotations

import re

_ANSWER_RE = re.compile(
    r"answer\s+is\s*[\"'“]?\s*(yes|no|plausible|implausible)\b[\"'”]?[\s,.:;\"'”]*(?:because\b\s*)?",
    re.IGNORECASE,
)
CHAIN_ORDERS: tuple[str, ...] = ("answer_first", "reasoning_first")
_SENTENCE_ENDS = (".", "!", "?", '"', "'", "”", ")")
# What may stand between the last step and the answer phrase of a reasoning-first chain.
_CONNECTIVE_RE = re.compile(r"(?:\b(?:so|thus|therefore|hence)\s*,?\s*)?(?:\bthe\s*)?$",
                            re.IGNORECASE)
_ANSWER_MAP = {"yes": "yes", "no": "no", "plausible": "yes", "implausible": "no"}
# A sentence ends at . ! or ? followed by space and a capital letter, digit or quote, unless
# the period closes a one- or two-letter abbreviation such as "U.S." or "Mr.".
_SENT_END_RE = re.compile(r"(?<!\b[A-Z]\.)(?<!\b[A-Z][a-z]\.)(?<=[.!?])\s+(?=[A-Z0-9\"'“(])")


def split_steps(explanation: str) -> list[str]:
    """Split an explanation into sentence steps; whitespace-only pieces are dropped."""
    text = " ".join(explanation.split())
    if not text:
        return []
    return [s.strip() for s in _SENT_END_RE.split(text) if s.strip()]


def parse_chain(text: str) -> tuple[str | None, list[str], bool]:
    """Parse ``text``, in either order, into (answer, steps, parsed).

    The steps are the sentences after the answer phrase (answer first, "... because <steps>")
    or, when nothing follows the answer phrase and it comes after a finished sentence, the
    sentences before it (reasoning first). An unparseable
    text keeps its sentences as steps with answer None and parsed False, so nothing is
    dropped.

    >>> parse_chain("The answer is no because Ants are small. Cats purr.")
    ('no', ['Ants are small.', 'Cats purr.'], True)
    >>> parse_chain("Ants are small. Cats purr. So the answer is no.")
    ('no', ['Ants are small.', 'Cats purr.'], True)
    """
    match = _ANSWER_RE.search(text)
    if match is None:
        return None, split_steps(text), False
    before = _CONNECTIVE_RE.sub("", text[:match.start()]).strip()
    if re.search(r"\w", before) and before.endswith(_SENTENCE_ENDS):
        # Sentences come before the first answer phrase: reasoning first when the chain
        # ends with an answer phrase.
        last = list(_ANSWER_RE.finditer(text))[-1]
        if text[last.end():].strip() in ("", "."):
            head = _CONNECTIVE_RE.sub("", text[:last.start()]).strip()
            return _ANSWER_MAP[last.group(1).lower()], split_steps(head), True
    return _ANSWER_MAP[match.group(1).lower()], split_steps(text[match.end():]), True


def format_chain(answer: str, steps: list[str] | str, order: str = "answer_first") -> str:
    """The inverse of :func:`parse_chain` for a parsed chain, in ``order``.

    >>> format_chain("no", ["Ants are small.", "Cats purr."], "reasoning_first")
    'Ants are small. Cats purr. So the answer is no.'
    """
    explanation = steps if isinstance(steps, str) else " ".join(s.strip() for s in steps)
    explanation = explanation.strip()
    if order == "reasoning_first":
        if explanation and not explanation.endswith(_SENTENCE_ENDS):
            explanation += "."  # so the answer phrase starts a sentence of its own
        return f"{explanation} So the answer is {answer}.".strip() if explanation \
            else f"The answer is {answer}."
    if order != "answer_first":
        raise ValueError(f"unknown chain order {order!r}; known: {', '.join(CHAIN_ORDERS)}")
    return f"The answer is {answer} because {explanation}".rstrip()


def reorder_chain(text: str, order: str) -> str:
    """``text`` rewritten in ``order`` (same answer, same steps); a chain whose answer cannot
    be read, or one already in ``order``'s form, is returned as it is (stripped).

    >>> reorder_chain("The answer is yes because Ants are small.", "reasoning_first")
    'Ants are small. So the answer is yes.'
    """
    if order == "answer_first" and _ANSWER_RE.match(text.strip().removeprefix("The ")):
        return text.strip()
    answer, steps, parsed = parse_chain(text)
    if not parsed or answer is None:
        return text.strip()
    return format_chain(answer, steps, order)


def answer_word(answer: str | None) -> str:
    return answer if answer in ("yes", "no") else "unknown"
