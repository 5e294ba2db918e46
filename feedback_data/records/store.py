"""The feedback store: validated JSONL files of FeedbackItems, appended idempotently (the
paper's released feedback is imported into such files by :mod:`feedback_data.sources.paper_import`).

A store is append-only and keyed on (feedback id, update time): an annotation edited in Label
Studio is stored once per version, so the file keeps every version a human gave and nothing is
ever lost. Readers that use the feedback (``FeedbackStore.latest``, :func:`latest_versions`,
the training's ``data.extra_feedback``) see one record per feedback id: its latest version by
``feedback.time`` (an ISO time), ties going to the later line.

The store's one writer (``rhf serve``'s webhook) opens it with
:meth:`FeedbackStore.open_for_writing`, which takes its lock (``.<store>.lock`` beside it,
:mod:`feedback_data.files.write_lock`) for the life of the process, so a second writer fails
at start naming the first, and checks every line once:
- a torn last line (a crash mid-append: no newline and not a valid record) is truncated;
- any other bad line is moved to ``<store>.quarantine`` (appended there, never deleted) and
  the store is rewritten without it (temporary file + rename);
each with one log line. The keys of the stored records are then kept in memory, so the
duplicate check of an append costs the same whatever the store's size; appends are fsynced
before returning.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from feedback_data.errors import DataError
from feedback_data.files.io import atomic_path
from feedback_data.files.write_lock import acquire, file_lock
from feedback_data.records.jsonl import (
    describe_validation_error,
    read_records,
    to_json_line,
)
from feedback_data.records.schema import FeedbackItem

log = logging.getLogger(__name__)
QUARANTINE_SUFFIX = ".quarantine"

def _key(item: FeedbackItem) -> tuple[str, str]:
    return item.feedback.id, item.feedback.time or ""


def _when(item: FeedbackItem) -> datetime | None:
    """``feedback.time`` as an aware datetime (a time without a zone is UTC); None when the
    record has no time. A time that is not ISO 8601 is a DataError naming the record."""
    text = item.feedback.time
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise DataError(f"feedback {item.feedback.id}: time {text!r} is not an ISO 8601 time, "
                        "so its latest version cannot be told") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def latest_versions(items: Iterable[FeedbackItem]) -> list[FeedbackItem]:
    """One record per feedback id, in the order the ids first appear: the version with the
    latest ``feedback.time`` (a version without a time is older than any with one); of equal
    times, the later one in ``items``."""
    best: dict[str, FeedbackItem] = {}
    for item in items:
        held = best.get(item.feedback.id)
        if held is not None:
            new, old = _when(item), _when(held)
            if new is None and old is not None or (new is not None and old is not None
                                                   and new < old):
                continue
        best[item.feedback.id] = item
    return list(best.values())


def _problem(line: bytes) -> str | None:
    """Why ``line`` is not a stored record (None when it is one)."""
    try:
        FeedbackItem.model_validate_json(line)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return "invalid JSON"
        return describe_validation_error(exc)
    return None


class FeedbackStore:
    """An append-only JSONL file of FeedbackItems keyed on (feedback id, update time).

    ``FeedbackStore(path)`` reads; :meth:`open_for_writing` gives the one writer (locked,
    repaired, indexed)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.quarantine_path = self.path.with_name(self.path.name + QUARANTINE_SUFFIX)
        self._lock = threading.Lock()
        self._keys: set[tuple[str, str]] | None = None  # the index, once open for writing

    @classmethod
    def open_for_writing(cls, path: str | Path, hint: str | None = None) -> FeedbackStore:
        """The store's writer: its lock taken for the life of the process (``hint`` says
        what to do when another process holds it), damaged lines repaired, keys indexed."""
        store = cls(path)
        acquire(file_lock(store.path), f"feedback store {store.path}", hint)
        store._keys = set()
        store._repair_and_index()
        return store

    @staticmethod
    def key(item: FeedbackItem) -> tuple[str, str]:
        return _key(item)

    def read(self) -> list[FeedbackItem]:
        """Every stored version, in line order."""
        return read_records(self.path, FeedbackItem) if self.path.exists() else []

    def latest(self) -> list[FeedbackItem]:
        """One record per feedback id: its latest version (:func:`latest_versions`)."""
        return latest_versions(self.read())

    def _index(self) -> set[tuple[str, str]]:
        if self._keys is None:
            raise RuntimeError(f"feedback store {self.path}: not open for writing "
                               "(FeedbackStore.open_for_writing)")
        return self._keys

    def __len__(self) -> int:
        """The number of stored versions."""
        return len(self._index())

    def __contains__(self, item: FeedbackItem) -> bool:
        return _key(item) in self._index()

    def _repair_and_index(self) -> None:
        keys = self._index()
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        good: list[bytes] = []
        bad: list[tuple[int, bytes, str]] = []
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            problem = _problem(line)
            if problem is None:
                good.append(line)
            else:
                bad.append((lineno, line, problem))
        torn = tail.strip() and _problem(tail) is not None
        if tail.strip() and not torn:  # a whole record that lost only its newline
            good.append(tail)
        for line in good:
            keys.add(_key(FeedbackItem.model_validate_json(line)))
        if bad:
            with self.quarantine_path.open("ab") as fh:
                for _lineno, line, _problem_text in bad:
                    fh.write(line + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            for lineno, _line, problem in bad:
                log.error("feedback store %s: line %d is not a valid record (%s); moved to %s",
                          self.path, lineno, problem, self.quarantine_path)
        if torn:
            log.warning("feedback store %s: torn last line (%d bytes, line %d) truncated",
                        self.path, len(tail), len(lines) + 1)
        if bad or torn or (tail.strip() and not torn):
            with atomic_path(self.path) as tmp, tmp.open("wb") as fh:
                fh.write(b"".join(line + b"\n" for line in good))
                fh.flush()
                os.fsync(fh.fileno())

    def append(self, item: FeedbackItem) -> bool:
        """Store ``item`` unless its (id, time) is stored already; True when written. A
        failed write (e.g. disk full) leaves no torn line behind."""
        keys = self._index()
        key = _key(item)
        line = to_json_line(item).encode("utf-8")
        with self._lock:
            if key in keys:
                return False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as fh:
                start = fh.tell()
                try:
                    fh.write(line)
                    fh.flush()
                    os.fsync(fh.fileno())
                except OSError:
                    fh.truncate(start)  # no torn line left behind (e.g. disk full)
                    raise
            keys.add(key)
        return True
