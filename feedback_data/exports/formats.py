"""The export-format registry: every format `rhf data export --format` writes, by name.

Two kinds: ``records`` formats write rhf's own FeedbackItems (``jsonl``, ``hf``); ``rows``
formats build training rows from them (the TRL formats of feedback_data.exports.trl, and
ProcessBench's) and write them as JSONL (OUT ends in .jsonl) or a dataset folder. A new
format is one ``register`` call:

    EXPORT_FORMATS.register("mine", ExportFormat("mine", "rows", build=build_mine,
                                                 help="what a row holds"))

where ``build_mine(items) -> (rows, ExportReport)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feedback_data.exports.trl import BUILDERS, CORRECTION_FORMATS, ExportReport, write_rows
from feedback_data.records.schema import FeedbackItem
from feedback_data.registry import Registry

Builder = Callable[[list[FeedbackItem]], tuple[list[dict[str, Any]], ExportReport]]
FORMAT_HELP = {
    "jsonl": "rhf's FeedbackItems, one JSON object per line",
    "hf": "rhf's FeedbackItems as a datasets folder (save_to_disk)",
    "sft": "prompt / completion: question -> corrected chain",
    "sft-critique": "sft plus chain -> error types and chain -> description rows",
    "kto": "prompt / completion / label: the chain (False when flawed), the correction (True)",
    "dpo": "prompt / chosen / rejected: corrected vs original chain",
    "prm": "prompt / completions / labels: the chain's steps, False from the first wrong one",
    "processbench": "ProcessBench's fields: label = the first wrong step (-1 when none)",
}


@dataclass(frozen=True)
class ExportFormat:
    """``kind`` 'records' (``write(items, out)``) or 'rows' (``build(items)``)."""

    name: str
    kind: str
    build: Builder | None = None
    write: Callable[[list[FeedbackItem], Path], None] | None = None
    help: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("records", "rows"):
            raise ValueError(f"export format {self.name}: kind must be records or rows")
        if (self.kind == "rows") != (self.build is not None) or \
                (self.kind == "records") != (self.write is not None):
            raise ValueError(f"export format {self.name}: a rows format has build, a records "
                             "format has write")

    @property
    def writes_folder(self) -> bool:
        return self.name == "hf"


def _write_jsonl(items: list[FeedbackItem], out: Path) -> None:
    from feedback_data.records.jsonl import write_records

    write_records(out, items)


def _write_hf(items: list[FeedbackItem], out: Path) -> None:
    from feedback_data.files.io import atomic_folder
    from feedback_data.records.hf_dataset import is_saved_dataset, save_items

    with atomic_folder(out, ours=is_saved_dataset) as staged:  # beside out, then renamed
        save_items(items, staged)


EXPORT_FORMATS: Registry[ExportFormat] = Registry("export format")
EXPORT_FORMATS.register("jsonl", ExportFormat("jsonl", "records", write=_write_jsonl,
                                              help=FORMAT_HELP["jsonl"]))
EXPORT_FORMATS.register("hf", ExportFormat("hf", "records", write=_write_hf,
                                           help=FORMAT_HELP["hf"]))
for _name, _build in BUILDERS.items():
    EXPORT_FORMATS.register(_name, ExportFormat(_name, "rows", build=_build,
                                                help=FORMAT_HELP.get(_name, "")))


def build(fmt: str, items: Iterable[FeedbackItem], contradicting: str = "drop"
          ) -> tuple[list[dict[str, Any]], ExportReport]:
    """The rows of a rows format; ``contradicting`` is the contradicting-corrections policy
    of the formats whose targets hold the correction (CORRECTION_FORMATS)."""
    entry = EXPORT_FORMATS.get(fmt)
    if entry.build is None:
        raise ValueError(f"export format {fmt!r} writes records, not rows")
    if fmt in CORRECTION_FORMATS:
        return entry.build(list(items), contradicting=contradicting)
    return entry.build(list(items))


def export_rows(fmt: str, items: Iterable[FeedbackItem], out: str | Path,
                contradicting: str = "drop") -> ExportReport:
    """Build a rows format and write it (JSONL or a dataset folder, by ``out``'s suffix)."""
    rows, report = build(fmt, items, contradicting)
    write_rows(rows, out)
    return report
