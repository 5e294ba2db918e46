"""Hugging Face ``datasets`` round trip of FeedbackItems with declared Features.

Free-form dicts (``Example.meta``, ``Feedback.raw``) are stored as JSON strings so the
schema stays fixed; the round trip back to FeedbackItems is lossless.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, List, Value, load_from_disk

from feedback_data.records.schema import ERROR_CODES, FeedbackItem

# What a folder holds when `datasets` wrote it (save_to_disk of a Dataset or a DatasetDict).
SAVED_DATASET_FILES = ("dataset_info.json", "state.json", "dataset_dict.json")


def is_saved_dataset(folder: Path) -> bool:
    return any((Path(folder) / name).is_file() for name in SAVED_DATASET_FILES)

_S = Value("string")
FEATURES = Features({
    "example": {
        "id": _S, "task": _S, "question": _S, "answer": _S, "explanation": _S, "source": _S,
        "meta_json": _S,
    },
    "chain": {
        "id": _S, "example_id": _S, "task": _S, "question": _S, "model": _S, "prompt_id": _S,
        "text": _S, "answer": _S, "steps": List(_S), "parsed": Value("bool"),
    },
    "feedback": {
        "id": _S, "chain_id": _S, "annotator": _S, "source": _S, "subquestions": List(_S),
        "correction": {"text": _S, "answer": _S, "steps": List(_S)},
        "error_types": List(_S),
        "reasons": {code: _S for code in ERROR_CODES},
        "error_steps": List(Value("int32")),
        "time": _S, "flags": List(_S), "raw_json": _S,
        "schema_version": Value("int32"), "step_ratings": List(_S), "lead_time": Value("float64"),
        "created_at": _S, "annotator_id": Value("int64"), "prefill_json": _S,
    },
})


def item_to_row(item: FeedbackItem) -> dict[str, Any]:
    d = item.model_dump()
    d["example"]["meta_json"] = json.dumps(d["example"].pop("meta"), ensure_ascii=False)
    fb = d["feedback"]
    fb["reasons"] = {code: fb["reasons"].get(code) for code in ERROR_CODES}
    raw = fb.pop("raw")
    fb["raw_json"] = None if raw is None else json.dumps(raw, ensure_ascii=False)
    prefill = fb.pop("prefill")
    fb["prefill_json"] = None if prefill is None else json.dumps(prefill, ensure_ascii=False)
    return d


def row_to_item(row: dict[str, Any]) -> FeedbackItem:
    row = json.loads(json.dumps(row))  # deep copy of plain data
    row["example"]["meta"] = json.loads(row["example"].pop("meta_json"))
    fb = row["feedback"]
    fb["reasons"] = {k: v for k, v in fb["reasons"].items() if v is not None}
    raw_json = fb.pop("raw_json")
    fb["raw"] = None if raw_json is None else json.loads(raw_json)
    prefill_json = fb.pop("prefill_json")
    fb["prefill"] = None if prefill_json is None else json.loads(prefill_json)
    return FeedbackItem.model_validate(row)


def to_dataset(items: list[FeedbackItem]) -> Dataset:
    return Dataset.from_list([item_to_row(i) for i in items], features=FEATURES)


def from_dataset(ds: Dataset) -> list[FeedbackItem]:
    return [row_to_item(r) for r in ds]


def save_items(items: list[FeedbackItem], path: str | Path) -> None:
    to_dataset(items).save_to_disk(str(path))


def load_items(path: str | Path) -> list[FeedbackItem]:
    return from_dataset(load_from_disk(str(path)))
