"""Import the paper's released feedback (Joshi et al., 2023) into typed FeedbackItems.

Every field of a raw record maps to the schema and the raw record is kept in
``Feedback.raw``, so nothing is lost. Quirks handled: ErrorType is a list or the string
"None"; ``*_reason`` is null or absent; subquestions start with "Q)" or "Q:".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from feedback_data.errors import DataError
from feedback_data.files import paths
from feedback_data.records.jsonl import iter_json_lines, read_records, write_records
from feedback_data.records.schema import (
    ERROR_CODES,
    SCHEMA_VERSION,
    Chain,
    Correction,
    Example,
    Feedback,
    FeedbackItem,
    make_chain_id,
)
from feedback_data.sources.bigbench import example_id, sports_question
from feedback_data.text.chain_format import parse_chain

# Which model wrote the released chains (SOURCE.md of the release).
PAPER_CHAIN_MODEL = {"strategyqa": "EleutherAI/gpt-j-6b", "sports_understanding": "google/flan-t5"}
PAPER_PROMPT_ID = "paper"
_SUBQ_PREFIX = re.compile(r"^\s*Q\s*[):.]\s*")


def split_subquestions(text: str | None) -> list[str]:
    """'Q) a\\nQ) b' -> ['a', 'b']; blank lines dropped."""
    out = []
    for line in (text or "").splitlines():
        line = _SUBQ_PREFIX.sub("", line).strip()
        if line:
            out.append(line)
    return out


def parse_error_types(value: Any, where: str) -> list[str]:
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise DataError(f"{where}: field 'ErrorType': expected a list or 'None', got {value!r}")
    codes = []
    for code in value:
        if code not in ERROR_CODES:
            raise DataError(f"{where}: field 'ErrorType': unknown error type {code!r}")
        if code not in codes:
            codes.append(code)
    return codes


def split_generation(generation: str, question: str) -> str:
    """The chain text after 'Q: <question>' in a released Generation."""
    text = generation.strip()
    if text.startswith("Q:"):
        text = text[2:].lstrip()
    if text.startswith(question):
        return text[len(question):].strip()
    idx = text.lower().find("the answer is")
    return text[idx:].strip() if idx >= 0 else text


def _require(obj: dict, key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if key not in obj:
        raise DataError(f"{where}: missing field '{key}'")
    value = obj[key]
    if not isinstance(value, kind):
        raise DataError(f"{where}: field '{key}' has type {type(value).__name__}")
    return value


def convert_record(raw: dict, task: str, split: str, where: str, line: int) -> FeedbackItem:
    original = _require(raw, "Original", where, dict)
    generation = _require(raw, "Generation", where, str)
    correction_text = _require(raw, "Correction", where, (str, type(None))) or ""
    answer = _require(original, "answer", where + " Original", bool)
    if task == "strategyqa":
        question = _require(original, "question", where + " Original", str).strip()
        explanation = " ".join(original.get("facts") or [])
    else:
        statement = _require(original, "input", where + " Original", str)
        question = sports_question(statement)
        explanation = ""
    ex_id = example_id(task, question)
    example = Example(
        id=ex_id, task=task, question=question, answer="yes" if answer else "no",
        explanation=explanation, source="paper",
        meta={k: v for k, v in original.items() if k not in ("question", "answer")},
    )
    raw_question = str(original.get("question", question)).strip()
    chain_text = split_generation(generation, raw_question)
    chain_answer, steps, parsed = parse_chain(chain_text)
    model = PAPER_CHAIN_MODEL[task]
    chain = Chain(
        id=make_chain_id(ex_id, model, PAPER_PROMPT_ID), example_id=ex_id, task=task,
        question=question, model=model, prompt_id=PAPER_PROMPT_ID, text=chain_text,
        answer=chain_answer, steps=steps, parsed=parsed,
    )
    corr_answer, corr_steps, _ = parse_chain(correction_text)
    reasons = {}
    for code in ERROR_CODES:
        reason = raw.get(f"{code}_reason")
        if reason is not None:
            if not isinstance(reason, str):
                raise DataError(f"{where}: field '{code}_reason' must be a string or null")
            reasons[code] = reason
    feedback = Feedback(
        id=f"paper/{task}/{split}/{line:05d}", chain_id=chain.id, annotator="paper",
        source="imported", subquestions=split_subquestions(raw.get("Subquestions")),
        correction=Correction(text=correction_text, answer=corr_answer, steps=corr_steps),
        error_types=parse_error_types(raw.get("ErrorType"), where), reasons=reasons,
        raw=raw, schema_version=SCHEMA_VERSION,
        step_ratings=None,  # the release has no per-step ratings: unknown, not guessed
    )
    return FeedbackItem(example=example, chain=chain, feedback=feedback)


def import_file(path: str | Path, task: str, split: str) -> list[FeedbackItem]:
    """Convert every line of a released file; a malformed line raises naming file and line."""
    items = []
    for lineno, raw in iter_json_lines(path):
        items.append(convert_record(raw, task, split, f"{path}:{lineno}", lineno))
    return items


# (task, split) of each released file.
PAPER_SPLITS = (("strategyqa", "train"), ("strategyqa", "eval"), ("sports_understanding", "train"))


def imported_path(task: str, split: str) -> Path:
    return paths.imported_dir() / task / f"{split}.jsonl"


def import_paper_feedback(log=print) -> dict[str, int]:
    """Convert the fetched release into ``imported/<task>/<split>.jsonl`` (atomic writes)."""
    counts = {}
    for task, split in PAPER_SPLITS:
        src = paths.feedback_raw_dir() / task / f"{split}.jsonl"
        if not src.exists():
            raise DataError(f"{src} not found: run `rhf data fetch` first")
        items = import_file(src, task, split)
        counts[f"{task}/{split}"] = write_records(imported_path(task, split), items)
    log("imported " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    return counts


def load_paper_feedback(task: str, split: str = "train") -> list[FeedbackItem]:
    path = imported_path(task, split)
    if not path.exists():
        src = paths.feedback_raw_dir() / task / f"{split}.jsonl"
        if not src.exists():
            raise DataError(f"{path} not found: run `rhf data fetch` first")
        import_paper_feedback(log=lambda _msg: None)
    return read_records(path, FeedbackItem)
