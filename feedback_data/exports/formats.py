"""The export-format registry: every format `rhf data export --format` writes, by name.

Each entry is the whole description of its format: its name, its help (the CLI's choices and
help read both), what it writes, and whether it takes the contradicting-corrections policy
(``uses_correction``: its targets hold the annotator's correction). Two kinds: ``records``
formats write rhf's own FeedbackItems (``jsonl``, ``hf``); ``rows`` formats build training
rows from them (the builders of feedback_data.exports.trl) and write them as JSONL (OUT ends
in .jsonl) or a dataset folder. A new format is one ``register`` call:

    EXPORT_FORMATS.register("mine", ExportFormat("mine", "rows", build=build_mine,
                                                 help="what a row holds"))

where ``build_mine(items) -> (rows, ExportReport)`` (with ``uses_correction=True``,
``build_mine(items, contradicting="drop")``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feedback_data.exports import trl
from feedback_data.exports.trl import ExportReport, write_rows
from feedback_data.records.schema import FeedbackItem
from feedback_data.registry import Registry

Builder = Callable[..., tuple[list[dict[str, Any]], ExportReport]]
Writer = Callable[[list[FeedbackItem], Path], None]


@dataclass(frozen=True)
class ExportFormat:
    """One export format: ``kind`` 'records' (``write(items, out)``) or 'rows'
    (``build(items)``, or ``build(items, contradicting=...)`` when ``uses_correction``)."""

    name: str
    kind: str  # 'records' or 'rows'
    build: Builder | None = None  # rows formats: items -> (rows, ExportReport)
    write: Writer | None = None  # records formats: write items to out
    help: str = ""  # one line for `rhf data export --help`
    # Its targets hold the correction: the builder takes the contradicting-corrections policy.
    uses_correction: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("records", "rows"):
            raise ValueError(f"export format {self.name}: kind must be records or rows")
        if (self.kind == "rows") != (self.build is not None) or \
                (self.kind == "records") != (self.write is not None):
            raise ValueError(f"export format {self.name}: a rows format has build, a records "
                             "format has write")
        if self.uses_correction and self.kind != "rows":
            raise ValueError(f"export format {self.name}: only a rows format uses corrections")

    @property
    def writes_folder(self) -> bool:
        return self.name == "hf"

    def rows(self, items: Iterable[FeedbackItem], contradicting: str = "drop"
             ) -> tuple[list[dict[str, Any]], ExportReport]:
        """The rows and report of a rows format, under the policy when it uses corrections."""
        if self.build is None:
            raise ValueError(f"export format {self.name!r} writes records, not rows")
        if self.uses_correction:
            return self.build(list(items), contradicting=contradicting)
        return self.build(list(items))


def _write_jsonl(items: list[FeedbackItem], out: Path) -> None:
    from feedback_data.records.jsonl import write_records

    write_records(out, items)


def _write_hf(items: list[FeedbackItem], out: Path) -> None:
    from feedback_data.files.io import atomic_folder
    from feedback_data.records.hf_dataset import is_saved_dataset, save_items

    with atomic_folder(out, ours=is_saved_dataset) as staged:  # beside out, then renamed
        save_items(items, staged)


EXPORT_FORMATS: Registry[ExportFormat] = Registry("export format")
for _format in (
    ExportFormat("jsonl", "records", write=_write_jsonl,
                 help="rhf's FeedbackItems, one JSON object per line"),
    ExportFormat("hf", "records", write=_write_hf,
                 help="rhf's FeedbackItems as a datasets folder (save_to_disk)"),
    ExportFormat("sft", "rows", build=trl.build_sft, uses_correction=True,
                 help="prompt / completion: question -> corrected chain"),
    ExportFormat("sft-critique", "rows", build=trl.build_sft_critique, uses_correction=True,
                 help="sft plus chain -> error types and chain -> description rows"),
    ExportFormat("kto", "rows", build=trl.build_kto, uses_correction=True,
                 help="prompt / completion / label: the chain (False when flawed), the "
                      "correction (True)"),
    ExportFormat("dpo", "rows", build=trl.build_dpo, uses_correction=True,
                 help="prompt / chosen / rejected: corrected vs original chain"),
    ExportFormat("prm", "rows", build=trl.build_prm,
                 help="prompt / completions / labels: the chain's steps, False from the "
                      "first wrong one"),
    ExportFormat("processbench", "rows", build=trl.build_processbench,
                 help="ProcessBench's fields: label = the first wrong step (-1 when none)"),
):
    EXPORT_FORMATS.register(_format.name, _format)


def build(fmt: str, items: Iterable[FeedbackItem], contradicting: str = "drop"
          ) -> tuple[list[dict[str, Any]], ExportReport]:
    """The rows of the rows format ``fmt``; ``contradicting`` is the contradicting-corrections
    policy, applied by the formats whose entry ``uses_correction``."""
    return EXPORT_FORMATS.get(fmt).rows(items, contradicting)


def export_rows(fmt: str, items: Iterable[FeedbackItem], out: str | Path,
                contradicting: str = "drop") -> ExportReport:
    """Build a rows format and write it (JSONL or a dataset folder, by ``out``'s suffix)."""
    rows, report = build(fmt, items, contradicting)
    write_rows(rows, out)
    return report


def format_help() -> str:
    """Each registered format and its help, for `rhf data export --help`."""
    return "; ".join(f"{f.name} ({f.help})" if f.help else f.name for f in EXPORT_FORMATS)
