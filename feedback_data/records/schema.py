"""Typed records that flow through rhf: Example -> Chain -> Feedback (the whole flow:
docs/architecture.md)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

# A task is named by its spec (feedback_data.tasks); the built-in ones are the paper's two.
TASK_NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]*$"
Task = Annotated[str, Field(pattern=TASK_NAME_PATTERN)]
PAPER_TASKS: tuple[str, ...] = ("strategyqa", "sports_understanding")
# An answer as its task normalizes it (feedback_data.text.answers): 'yes' / 'no', an option's
# letter, a number or a short text.
Answer = Annotated[str, Field(min_length=1)]
ErrorCode = Literal["FE", "MF", "IR", "LI"]
ERROR_CODES: tuple[str, ...] = get_args(ErrorCode)
ERROR_NAMES: dict[str, str] = {
    "FE": "Factual Error",
    "MF": "Missing Facts",
    "IR": "Irrelevant Facts",
    "LI": "Logical Inconsistency",
}
FeedbackSource = Literal["human", "imported", "simulated"]
# One rating per chain step (PRM800K-style): "unsure" is "can't judge".
StepRating = Literal["correct", "neutral", "wrong", "unsure"]
STEP_RATINGS: tuple[str, ...] = ("correct", "neutral", "wrong", "unsure")
# Version 2 added step ratings, annotator metadata and pre-annotation provenance;
# records without ``schema_version`` are version 1 and still load.
SCHEMA_VERSION = 2


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Example(_Record):
    """A question with its gold answer (None: not known, an unlabelled question) and, where
    known, a gold explanation. ``meta`` holds the answer format and options of a task that
    is not yes/no (feedback_data.text.answers)."""

    id: str
    task: Task
    question: str
    answer: Answer | None = None
    explanation: str = ""
    # file: a JSONL file, dataset: a datasets folder, user: asked directly (the service)
    source: Literal["bigbench", "paper", "file", "dataset", "user"] = "bigbench"
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


class Prefill(_Record):
    """Which fields the annotator kept from the model's pre-annotation and which they changed."""

    model_version: str = Field(description="The model version stamped on the prediction.")
    accepted: list[str] = Field(default_factory=list,
                                description="Fields whose submitted value equals the model's.")
    changed: list[str] = Field(default_factory=list,
                               description="Fields the model filled in that the annotator changed.")


class Feedback(_Record):
    """Rich feedback on one chain. An empty ``error_types`` means the annotator saw no error
    (unless a flag such as 'no_error_type_ticked' says that nothing was ticked at all)."""

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
    schema_version: int = Field(1, ge=1, le=SCHEMA_VERSION,
                                description="1: the paper's fields; 2: adds the fields below.")
    step_ratings: list[StepRating] | None = Field(
        None, description="One rating per chain step; None when unknown (the paper's records).")
    lead_time: float | None = Field(None, description="Seconds the annotator spent (Label Studio).")
    created_at: str | None = Field(None, description="When the annotation was first submitted.")
    annotator_id: int | None = Field(None, description="The annotator's Label Studio user id.")
    prefill: Prefill | None = Field(
        None, description="Set when the task carried a model pre-annotation.")

    @property
    def first_wrong_step(self) -> int | None:
        """0-based index of the first step rated 'wrong'; None when none or ratings unknown."""
        if self.step_ratings is None:
            return None
        return next((i for i, r in enumerate(self.step_ratings) if r == "wrong"), None)


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
