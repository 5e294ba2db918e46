"""Instruction templates and target formats shared by training and inference.

One instruction per term of the paper's objectives. Keeping them here (and only here) makes
the text a model was trained on the text it is asked at inference.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from feedback_data.records.schema import ERROR_CODES, ERROR_NAMES

# Ends like the CoT prompt ("Q: ...\nA:") so a base model's chain writing carries over.
ANSWER_INSTRUCTION = (
    "Predict the correct answer for the question and explain it.\nQ: {question}\nA:"
)
ERROR_TYPES_INSTRUCTION = (
    "Which errors does the answer to the question contain?\n"
    "Question: {question}\nAnswer: {chain}"
)
DESCRIPTION_INSTRUCTION = (
    "Describe the errors in the answer to the question, naming the step.\n"
    "Question: {question}\nAnswer: {chain}"
)
REFINE_INSTRUCTION = (
    "Find the errors in the answer to the question, then write a corrected answer.\n"
    "Question: {question}\nAnswer: {chain}"
)
# Not one of the paper's terms: the annotators' decomposition, p(subquestions | q), written
# by the model that plans the combined critic's verification questions.
SUBQUESTIONS_INSTRUCTION = (
    "Which questions must be answered first to answer the question?\nQ: {question}"
)
# How the verifier is asked one subquestion: the 0-shot CoT prompt's form.
VERIFICATION_QUESTION = "Q: {question}\nA:"
NO_ERROR = "no error"
REFINE_SEPARATOR = " ; "
# Single-token label words for the critic (``data.critic_label_words``): one word per class,
# 'no error' first, then the error types in ERROR_CODES order (FE, MF, IR, LI). Each is one
# token in the shipped tokenizer, so no class is longer to write than another.
DEFAULT_LABEL_WORDS: tuple[str, ...] = ("correct", "fact", "missing", "irrelevant", "conflict")


def answer_prompt(question: str) -> str:
    return ANSWER_INSTRUCTION.format(question=question)


def _in_order(chain: str, order: str | None) -> str:
    """The chain as the model reads chains: rewritten in its training ``order`` if given."""
    if order is None:
        return chain
    from feedback_data.text.chain_format import reorder_chain

    return reorder_chain(chain, order)


def error_types_prompt(question: str, chain: str, order: str | None = None) -> str:
    """The error-types instruction; ``order`` rewrites the chain in the order the model
    was trained on (``data.chain_order``), so a chain from another model reads as its own."""
    return ERROR_TYPES_INSTRUCTION.format(question=question, chain=_in_order(chain, order))


def description_prompt(question: str, chain: str, order: str | None = None) -> str:
    return DESCRIPTION_INSTRUCTION.format(question=question, chain=_in_order(chain, order))


def refine_prompt(question: str, chain: str, order: str | None = None) -> str:
    return REFINE_INSTRUCTION.format(question=question, chain=_in_order(chain, order))


def subquestions_prompt(question: str) -> str:
    return SUBQUESTIONS_INSTRUCTION.format(question=question)


def verification_question_prompt(subquestion: str) -> str:
    return VERIFICATION_QUESTION.format(question=subquestion.strip())


def subquestions_text(subquestions: list[str]) -> str:
    """The annotators' subquestions as one target: each ends with '?', joined by a space.

    >>> subquestions_text(["Who is X?", " What is a dunk "])
    'Who is X? What is a dunk?'
    """
    out = []
    for s in subquestions:
        s = " ".join(s.split()).rstrip("?").strip()
        if s:
            out.append(s + "?")
    return " ".join(out)


def parse_subquestions(text: str, limit: int | None = None) -> list[str]:
    """Inverse of :func:`subquestions_text`: the questions in ``text`` (each up to its '?'),
    duplicates dropped, at most ``limit``; text after the last '?' is left out.

    >>> parse_subquestions("Who is X? Who is X? What is a dunk? and")
    ['Who is X?', 'What is a dunk?']
    """
    out: list[str] = []
    for part in re.findall(r"[^?]*\?", text):
        q = " ".join(part.split())
        if len(q) > 1 and q not in out:
            out.append(q)
    return out[:limit] if limit is not None else out


def error_types_text(codes: Sequence[str], words: Sequence[str] | None = None) -> str:
    """['FE', 'MF'] -> 'factual error, missing facts'; [] -> 'no error'. With label
    ``words`` (no error, FE, MF, IR, LI) each class is written as its word.

    >>> error_types_text(["MF", "FE"], DEFAULT_LABEL_WORDS)
    'fact, missing'
    >>> error_types_text([], DEFAULT_LABEL_WORDS)
    'correct'
    """
    if words is not None:
        if not codes:
            return words[0]
        return ", ".join(words[1 + i] for i, c in enumerate(ERROR_CODES) if c in codes)
    if not codes:
        return NO_ERROR
    ordered = [c for c in ERROR_CODES if c in codes]
    return ", ".join(ERROR_NAMES[c].lower() for c in ordered)


_NAME_TO_CODE = {name.lower(): code for code, name in ERROR_NAMES.items()}


def parse_error_types_text(text: str, words: Sequence[str] | None = None) -> list[str] | None:
    """Inverse of :func:`error_types_text`: codes found, [] for 'no error', None if neither.
    With label ``words`` a class's word (as a whole word) counts too, before the names.

    >>> parse_error_types_text("conflict, fact", DEFAULT_LABEL_WORDS)
    ['FE', 'LI']
    >>> parse_error_types_text("correct", DEFAULT_LABEL_WORDS)
    []
    """
    lowered = text.lower()
    if words is not None:
        found = set(re.findall(r"[a-z]+", lowered))
        hits = [c for c, w in zip(ERROR_CODES, words[1:], strict=True) if w in found]
        if hits:
            return hits
        if words[0] in found:
            return []
    codes = [code for name, code in _NAME_TO_CODE.items() if name in lowered]
    if codes:
        return [c for c in ERROR_CODES if c in codes]
    if NO_ERROR in lowered:
        return []
    return None


def description_text(reasons: dict[str, str], codes: list[str]) -> str:
    """One 'Type: reason' sentence group per selected type, in a fixed order."""
    parts = []
    for code in ERROR_CODES:
        reason = " ".join(reasons.get(code, "").split())
        if code in codes and reason:
            parts.append(f"{ERROR_NAMES[code]}: {reason}")
    return " ".join(parts) if parts else NO_ERROR


def refine_target(codes: list[str], correction: str) -> str:
    return f"{error_types_text(codes)}{REFINE_SEPARATOR}{correction.strip()}"


def parse_refine_output(text: str) -> tuple[list[str] | None, str]:
    """'missing facts ; The answer is no ...' -> (['MF'], 'The answer is no ...')."""
    head, sep, tail = text.partition(REFINE_SEPARATOR.strip())
    if not sep:
        match = re.search(r"the answer is", text, re.I)
        if match is None:
            return parse_error_types_text(text), ""
        head, tail = text[: match.start()], text[match.start():]
    return parse_error_types_text(head), tail.strip()


def vocabulary_text() -> list[str]:
    """Fixed strings the tokenizer should know well."""
    return [ANSWER_INSTRUCTION, ERROR_TYPES_INSTRUCTION, DESCRIPTION_INSTRUCTION,
            REFINE_INSTRUCTION, NO_ERROR, *(n.lower() for n in ERROR_NAMES.values())]
