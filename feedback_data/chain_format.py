"""The one chain format rhf emits and the one parser that reads it.

Format: ``The answer is <yes|no> because <step 1> <step 2> ...`` (the released data's format).
Sports Understanding answers may also say plausible/implausible; both map to yes/no.
"""

from __future__ import annotations

import re

_ANSWER_RE = re.compile(
    r"answer\s+is\s*[\"'“]?\s*(yes|no|plausible|implausible)\b[\"'”]?[\s,.:;\"'”]*(?:because\b\s*)?",
    re.IGNORECASE,
)
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
    """Parse ``text`` into (answer, steps, parsed).

    An unparseable text keeps its sentences as steps with answer None and parsed False,
    so nothing is dropped.

    >>> parse_chain("The answer is no because A is B. C is D.")
    ('no', ['A is B.', 'C is D.'], True)
    """
    match = _ANSWER_RE.search(text)
    if match is None:
        return None, split_steps(text), False
    answer = _ANSWER_MAP[match.group(1).lower()]
    return answer, split_steps(text[match.end():]), True


def format_chain(answer: str, steps: list[str] | str) -> str:
    """The inverse of :func:`parse_chain` for a parsed chain."""
    explanation = steps if isinstance(steps, str) else " ".join(s.strip() for s in steps)
    return f"The answer is {answer} because {explanation.strip()}".rstrip()


def answer_word(answer: str | None) -> str:
    return answer if answer in ("yes", "no") else "unknown"
