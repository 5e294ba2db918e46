"""JSON-lines records: reading with errors that name file, line and field; writing through
the atomic writes of :mod:`feedback_data.files.io` (appends are fsynced and, when they fail,
cut back to where they began, so no torn line is ever left)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from feedback_data.errors import DataError
from feedback_data.files.io import said_when_full, write_bytes

M = TypeVar("M", bound=BaseModel)


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


def to_json_line(record: BaseModel | dict[str, Any]) -> str:
    if isinstance(record, BaseModel):
        return record.model_dump_json() + "\n"
    return json.dumps(record, ensure_ascii=False) + "\n"


def _encode(records: Iterable[BaseModel | dict[str, Any]]) -> tuple[bytes, int]:
    lines = [to_json_line(r) for r in records]
    return "".join(lines).encode("utf-8"), len(lines)


def write_records(path: str | Path, records: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Write all records to ``path`` atomically (temporary file, fsync, rename)."""
    data, n = _encode(records)
    write_bytes(path, data)
    return n


def append_records(path: str | Path, records: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Append records and fsync before returning, so a crash after return loses nothing; a
    failed append (a full disk) is cut back, leaving no torn line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data, n = _encode(records)
    with path.open("ab") as fh:
        start = fh.tell()
        kept = f"{path} kept its {start} bytes from before (nothing half-written)"
        with said_when_full(path, len(data), kept):
            try:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            except OSError:
                fh.truncate(start)
                raise
    return n


