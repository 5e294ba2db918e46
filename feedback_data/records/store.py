"""The feedback store: validated JSONL files of FeedbackItems, appended idempotently."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from feedback_data.errors import DataError
from feedback_data.files import paths
from feedback_data.records.jsonl import append_records, read_records, write_records
from feedback_data.records.schema import FeedbackItem
from feedback_data.sources.paper_import import import_file

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


class FeedbackStore:
    """An append-only JSONL file of FeedbackItems, keyed by feedback id (and update time)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @staticmethod
    def key(item: FeedbackItem) -> tuple[str, str]:
        return item.feedback.id, item.feedback.time or ""

    def read(self) -> list[FeedbackItem]:
        return read_records(self.path, FeedbackItem) if self.path.exists() else []

    def latest(self) -> list[FeedbackItem]:
        """One item per feedback id: its last appended version."""
        by_id: dict[str, FeedbackItem] = {}
        for item in self.read():
            by_id[item.feedback.id] = item
        return list(by_id.values())

    def append(self, items: Iterable[FeedbackItem]) -> int:
        """Append items whose (id, time) is not stored yet; fsynced before returning."""
        seen = {self.key(i) for i in self.read()}
        new = []
        for item in items:
            if self.key(item) not in seen:
                seen.add(self.key(item))
                new.append(item)
        return append_records(self.path, new) if new else 0

    def rewrite(self, items: Iterable[FeedbackItem]) -> int:
        return write_records(self.path, items)
