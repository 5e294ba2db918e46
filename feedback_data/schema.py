"""Typed records that flow through rhf: Example -> Chain -> Feedback (see shared/DESIGN.md)."""

from __future__ import annotations

import hashlib
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

Task = Literal["strategyqa", "sports_understanding"]
TASKS: tuple[str, ...] = get_args(Task)
Answer = Literal["yes", "no"]
ErrorCode = Literal["FE", "MF", "IR", "LI"]
ERROR_CODES: tuple[str, ...] = get_args(ErrorCode)
ERROR_NAMES: dict[str, str] = {
    "FE": "Factual Error",
    "MF": "Missing Facts",
    "IR": "Irrelevant Facts",
    "LI": "Logical Inconsistency",
}
FeedbackSource = Literal["human", "imported", "simulated"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Example(_Record):
    """A gold item: a question with its yes/no answer and, where known, a gold explanation."""

    id: str
    task: Task
    question: str
    answer: Answer
    explanation: str = ""
    source: Literal["bigbench", "paper"] = "bigbench"
    meta: dict[str, Any] = Field(default_factory=dict)


class Chain(_Record):
    """A model-written chain: an answer plus an explanation split into steps."""

    id: str
    example_id: str
    task: Task
    question: str
    model: str
    prompt_id: str
    text: str
    answer: Answer | None
    steps: list[str]
    parsed: bool


class Correction(_Record):
    """The annotator's edit of a chain: answer and explanation, same format as a chain's text."""

    text: str
    answer: Answer | None
    steps: list[str]


class Feedback(_Record):
    """Rich feedback on one chain. An empty ``error_types`` means the annotator saw no error."""

    id: str
    chain_id: str
    annotator: str
    source: FeedbackSource
    subquestions: list[str] = Field(default_factory=list)
    correction: Correction
    error_types: list[ErrorCode] = Field(default_factory=list)
    reasons: dict[ErrorCode, str] = Field(default_factory=dict)
    error_steps: list[int] = Field(default_factory=list)
    time: str | None = None
    flags: list[str] = Field(
        default_factory=list,
        description="Problems found when the record was made (e.g. 'none_with_error_types').",
    )
    raw: dict[str, Any] | None = None


class FeedbackItem(_Record):
    """What training consumes: the gold example, the chain that was reviewed and its feedback."""

    example: Example
    chain: Chain
    feedback: Feedback


def stable_id(*parts: str, n: int = 16) -> str:
    """A short deterministic id from its parts (same input -> same id across runs)."""
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:n]


def make_chain_id(example_id: str, model: str, prompt_id: str, sample: int = 0) -> str:
    return f"{example_id}/{stable_id(model, prompt_id, str(sample), n=10)}"
