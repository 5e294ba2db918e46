"""JSON-lines I/O with errors that name file, line and field, and atomic writes."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class DataError(ValueError):
    """Bad input data; the message names where (file, line, record, field)."""


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "<record>"


def describe_validation_error(err: ValidationError) -> str:
    first = err.errors()[0]
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"field '{_field_path(first['loc'])}': {first['msg']}{more}"


def iter_json_lines(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; a bad line raises DataError."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from exc
    with handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
            if not isinstance(obj, dict):
                kind = type(obj).__name__
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {kind}")
            yield lineno, obj


def read_records(path: str | Path, model: type[M]) -> list[M]:
    """Read and validate every line of ``path`` as ``model``; the first bad line raises."""
    out: list[M] = []
    for lineno, obj in iter_json_lines(path):
        try:
            out.append(model.model_validate(obj))
        except ValidationError as exc:
            raise DataError(f"{path}:{lineno}: {describe_validation_error(exc)}") from exc
    return out


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def to_json_line(record: BaseModel | dict[str, Any]) -> str:
    if isinstance(record, BaseModel):
        return record.model_dump_json() + "\n"
    return json.dumps(record, ensure_ascii=False) + "\n"


def _write_synced(fh: Any, records: Iterable[BaseModel | dict[str, Any]]) -> int:
    """One JSON line per record, flushed and fsynced; returns the count."""
    n = 0
    for record in records:
        fh.write(to_json_line(record))
        n += 1
    fh.flush()
    os.fsync(fh.fileno())
    return n


def write_records(path: str | Path, records: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Write all records to ``path`` atomically (temporary file, fsync, rename)."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        return _write_synced(fh, records)


def append_records(path: str | Path, records: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Append records and fsync before returning, so a crash after return loses nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        return _write_synced(fh, records)


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
