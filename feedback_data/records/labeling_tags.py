"""Label Studio tag names and task-data keys of rhf's labeling interface, defined once.

The annotation package builds the interface from these; the model service's ML backend
(``/predict``) writes pre-annotations with them. Both import this module, not each other.
"""

from __future__ import annotations

import re

from feedback_data.records.schema import ERROR_CODES, ERROR_NAMES, STEP_RATINGS

# Tag names (``from_name`` in results).
QUESTION = "question"
CHAIN = "chain"
SUBQUESTIONS = "subquestions"
CORRECTION = "correction"
ERROR_TYPES = "error_types"
ERROR_STEPS = "error_steps"
# A hidden field the simulator fills in; a human never sees it, so it marks bot output.
ORIGIN = "origin"
SIMULATED_MARK = "simulated"
REASON_PREFIX = "reason_"
REASONS: dict[str, str] = {code: f"{REASON_PREFIX}{code}" for code in ERROR_CODES}
# The answer area of a task that is not yes/no (a yes/no answer is read from the correction):
# the option chosen (multiple choice) or the short answer typed (free form).
ANSWER_CHOICE = "answer_choice"
ANSWER_TEXT = "answer_text"
# Per-step tags made by a Repeater over the task's steps (0-based index in the name).
STEP_TEXT_PREFIX = "step_"
STEP_RATING_PREFIX = "step_rating_"

# The choice meaning "no error"; the others are ERROR_NAMES' values.
NO_ERROR = "None"
ERROR_CHOICES: tuple[str, ...] = (*(ERROR_NAMES[c] for c in ERROR_CODES), NO_ERROR)
CODE_BY_CHOICE: dict[str, str] = {ERROR_NAMES[c]: c for c in ERROR_CODES}
# What each error type means (shown as hints on the page).
ERROR_DEFINITIONS: dict[str, str] = {
    "FE": "a step states something false",
    "MF": "a needed fact is absent",
    "IR": "a step does not bear on the question",
    "LI": "a step does not follow",
}
# Step rating choices as shown -> the schema's StepRating.
RATING_CHOICES: dict[str, str] = {"Correct": "correct", "Neutral": "neutral", "Wrong": "wrong",
                                  "Can't judge": "unsure"}
CHOICE_BY_RATING: dict[str, str] = {v: k for k, v in RATING_CHOICES.items()}
if tuple(RATING_CHOICES.values()) != STEP_RATINGS:  # pragma: no cover (a typo guard)
    raise ImportError("RATING_CHOICES must cover schema.STEP_RATINGS in order")

# Task-data keys shown by the interface.
DATA_QUESTION = "question"
DATA_CHAIN_DISPLAY = "chain_display"
DATA_MODEL_OUTPUT = "model_output"
DATA_STEP_CHOICES = "step_choices"
DATA_STEPS = "steps"  # [{"text": "Step 1: ..."}] for the Repeater
DATA_ANSWER_OPTIONS = "answer_options"  # [{"value": "(A) ..."}]: a multiple-choice task
DATA_RHF = "rhf"  # {"example": Example, "chain": Chain}: what rhf pushed, whole
DATA_MODEL_ANSWER = "model_answer"  # the model's short answer: pre-fills a free-form answer

TEXT_TAGS = frozenset({SUBQUESTIONS, CORRECTION, ORIGIN, ANSWER_TEXT, *REASONS.values()})
CHOICE_TAGS = frozenset({ERROR_TYPES, ERROR_STEPS, ANSWER_CHOICE})
RESULT_TAGS = TEXT_TAGS | CHOICE_TAGS
# The answer area's tag of each answer type (a yes/no task has none).
ANSWER_TAG: dict[str, str] = {"multiple_choice": ANSWER_CHOICE, "free_form": ANSWER_TEXT}
# The object tag each control is attached to (``to_name`` in results).
TO_NAME: dict[str, str] = {SUBQUESTIONS: QUESTION, ORIGIN: QUESTION, CORRECTION: CHAIN,
                           ERROR_TYPES: CHAIN, ERROR_STEPS: CHAIN, ANSWER_CHOICE: CHAIN,
                           ANSWER_TEXT: CHAIN,
                           **{tag: CHAIN for tag in REASONS.values()}}


def step_choice(n: int) -> str:
    """The label of the n-th (1-based) step choice."""
    return f"Step {n}"


def step_number(label: str) -> int | None:
    """Inverse of :func:`step_choice`; None for anything else."""
    head, _, num = label.partition(" ")
    if head != "Step" or not num.isdigit():
        return None
    return int(num)


def answer_option(letter: str, text: str) -> str:
    """How a multiple-choice option is shown as an answer choice: '(B) 05/01/2021'."""
    return f"({letter}) {text}"


def step_rating_tag(index: int) -> str:
    """The rating tag of the step at 0-based ``index``."""
    return f"{STEP_RATING_PREFIX}{index}"


def step_rating_index(name: str) -> int | None:
    """Inverse of :func:`step_rating_tag`; None for any other name."""
    if not name.startswith(STEP_RATING_PREFIX):
        return None
    num = name[len(STEP_RATING_PREFIX):]
    return int(num) if num.isdigit() and (num == "0" or not num.startswith("0")) else None


def result_item(name: str, value: str | list[str]) -> dict:
    """One result entry as Label Studio stores it (text for TextArea, choices for Choices)."""
    if name in TEXT_TAGS:
        return {"from_name": name, "to_name": TO_NAME[name], "type": "textarea",
                "value": {"text": [value] if isinstance(value, str) else list(value)}}
    if name in CHOICE_TAGS:
        return {"from_name": name, "to_name": TO_NAME[name], "type": "choices",
                "value": {"choices": list(value)}}
    index = step_rating_index(name)
    if index is not None:
        return {"from_name": name, "to_name": f"{STEP_TEXT_PREFIX}{index}", "type": "choices",
                "value": {"choices": [value] if isinstance(value, str) else list(value)}}
    raise KeyError(name)


def rating_items(ratings: list[str]) -> list[dict]:
    """Result entries for schema step ratings (one per step)."""
    return [result_item(step_rating_tag(i), CHOICE_BY_RATING[r]) for i, r in enumerate(ratings)]


_STEP_MENTION = re.compile(r"\bstep\s*(\d+)", re.IGNORECASE)


def first_step_mentioned(text: str, n_steps: int) -> int | None:
    """The first 'Step N' (1-based, within the chain's ``n_steps``) named in ``text``."""
    for match in _STEP_MENTION.finditer(text):
        n = int(match.group(1))
        if 1 <= n <= n_steps:
            return n
    return None
