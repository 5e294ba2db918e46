"""The webhook's append-only feedback store: repaired on open, indexed in memory.

On open, every line is checked once:
- a torn last line (a crash mid-append: no newline and not a valid record) is truncated;
- any other bad line is moved to ``<store>.quarantine`` (appended there, never deleted) and
  the store is rewritten without it (temporary file + rename);
each with one log line. Capture then goes on. One process writes a store: opening it takes
its lock (``.<store>.lock`` beside it, :mod:`feedback_data.files.write_lock`) for the life of the
process, so a second ``rhf serve`` on the same store fails at start, naming the first. The
(feedback id, update time) keys of the stored records are kept in memory, so the duplicate
check of a delivery costs the same whatever the store's size; appends are fsynced before
returning.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from pydantic import ValidationError

from feedback_data.files.io import atomic_path
from feedback_data.files.write_lock import acquire, file_lock
from feedback_data.records.jsonl import describe_validation_error, to_json_line
from feedback_data.records.schema import FeedbackItem

log = logging.getLogger(__name__)
QUARANTINE_SUFFIX = ".quarantine"


def _key(item: FeedbackItem) -> tuple[str, str]:
    return item.feedback.id, item.feedback.time or ""


def _problem(line: bytes) -> str | None:
    """Why ``line`` is not a stored record (None when it is one)."""
    try:
        FeedbackItem.model_validate_json(line)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return "invalid JSON"
        return describe_validation_error(exc)
    return None


class WebhookStore:
    """An append-only JSONL file of FeedbackItems with an in-memory index of its keys."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.quarantine_path = self.path.with_name(self.path.name + QUARANTINE_SUFFIX)
        self._lock = threading.Lock()
        self._keys: set[tuple[str, str]] = set()
        # Held until the process ends: the store has one writer (OutputLocked otherwise).
        acquire(file_lock(self.path), f"feedback store {self.path}",
                "stop that rhf serve, or give this one another --feedback-store")
        self._repair_and_index()

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, item: FeedbackItem) -> bool:
        return _key(item) in self._keys

    def _repair_and_index(self) -> None:
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
            self._keys.add(_key(FeedbackItem.model_validate_json(line)))
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
        """Store ``item`` unless its (id, time) is stored already; True when written."""
        key = _key(item)
        line = to_json_line(item).encode("utf-8")
        with self._lock:
            if key in self._keys:
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
            self._keys.add(key)
        return True
