"""Quality control of a campaign: accuracy on gold tasks, agreement, and annotator speed.

Gold: chains whose labels are known (e.g. the paper's released records), mixed into the queue
by annotation.queue. An annotator's gold accuracy compares their feedback on those chains with
the known labels: "has an error" (a type ticked or not), the exact set of error types, and the
first wrong step where the gold record has step ratings.

Speed comes from Label Studio's ``lead_time`` (seconds the annotation was open): the median
per task, and tasks per hour of annotating time (3600 x tasks / total lead time).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from annotation.agreement import AgreementReport, agreement, format_report
from feedback_data.records.consistency import is_inconsistent
from feedback_data.records.schema import FeedbackItem


@dataclass
class AnnotatorQuality:
    annotator: str
    n_tasks: int
    n_gold: int
    gold_has_error_accuracy: float | None
    gold_types_exact: float | None
    gold_first_wrong_step_accuracy: float | None
    n_timed: int
    median_seconds: float | None
    tasks_per_hour: float | None


@dataclass
class QualityReport:
    n_records: int
    n_left_out: int  # inconsistent records (flags), left out of every figure below
    annotators: list[AnnotatorQuality]
    median_seconds: float | None
    tasks_per_hour: float | None
    agreement: AgreementReport
    overlap_chains: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _share(hits: list[bool]) -> float | None:
    return sum(hits) / len(hits) if hits else None


def _speed(items: list[FeedbackItem]) -> tuple[int, float | None, float | None]:
    times = [i.feedback.lead_time for i in items if i.feedback.lead_time is not None]
    if not times:
        return 0, None, None
    total = sum(times)
    return len(times), statistics.median(times), (3600.0 * len(times) / total if total else None)


def latest_per_annotator(items: Iterable[FeedbackItem]) -> list[FeedbackItem]:
    """One record per (chain, annotator): their latest version."""
    by_key: dict[tuple[str, str], FeedbackItem] = {}
    for item in sorted(items, key=lambda i: i.feedback.time or ""):
        by_key[item.chain.id, item.feedback.annotator] = item
    return list(by_key.values())


def quality_report(items: Iterable[FeedbackItem],
                   gold: Mapping[str, FeedbackItem] | None = None) -> QualityReport:
    """The campaign's figures; ``gold`` maps chain id -> the known feedback on that chain."""
    gold = gold or {}
    records = latest_per_annotator(items)
    usable = [i for i in records if not is_inconsistent(i)]
    by_annotator: dict[str, list[FeedbackItem]] = defaultdict(list)
    for item in usable:
        by_annotator[item.feedback.annotator].append(item)
    rows = []
    for name in sorted(by_annotator):
        mine = by_annotator[name]
        on_gold = [(i, gold[i.chain.id]) for i in mine if i.chain.id in gold]
        has_error = [bool(i.feedback.error_types) == bool(g.feedback.error_types)
                     for i, g in on_gold]
        exact = [set(i.feedback.error_types) == set(g.feedback.error_types) for i, g in on_gold]
        first = [i.feedback.first_wrong_step == g.feedback.first_wrong_step for i, g in on_gold
                 if g.feedback.step_ratings is not None and i.feedback.step_ratings is not None]
        n_timed, median, per_hour = _speed(mine)
        rows.append(AnnotatorQuality(
            annotator=name, n_tasks=len(mine), n_gold=len(on_gold),
            gold_has_error_accuracy=_share(has_error), gold_types_exact=_share(exact),
            gold_first_wrong_step_accuracy=_share(first), n_timed=n_timed,
            median_seconds=median, tasks_per_hour=per_hour))
    _n, median, per_hour = _speed(usable)
    agree = agreement(usable)
    notes = []
    if not gold:
        notes.append("no gold labels given (--gold): gold accuracy not computed")
    if agree.n_chains == 0:
        notes.append("no chain has two or more annotators (set up with --overlap N)")
    return QualityReport(n_records=len(records), n_left_out=len(records) - len(usable),
                         annotators=rows, median_seconds=median, tasks_per_hour=per_hour,
                         agreement=agree, overlap_chains=agree.n_chains, notes=notes)


def _f(x: float | None, pattern: str = "{:.2f}") -> str:
    return "n/a" if x is None else pattern.format(x)


def format_quality(report: QualityReport) -> str:
    """The report as plain text: one row per annotator, then agreement per field."""
    lines = [f"{report.n_records} records ({report.n_left_out} flagged inconsistent, left out); "
             f"median {_f(report.median_seconds, '{:.1f}')} s per task; "
             f"{_f(report.tasks_per_hour, '{:.1f}')} tasks per hour (of annotating time)",
             f"{'annotator':32} {'tasks':>5} {'gold':>5} {'gold: error?':>12} "
             f"{'types exact':>11} {'1st wrong':>9} {'median s':>8} {'tasks/h':>7}"]
    for r in report.annotators:
        lines.append(f"{r.annotator[:32]:32} {r.n_tasks:>5} {r.n_gold:>5} "
                     f"{_f(r.gold_has_error_accuracy):>12} {_f(r.gold_types_exact):>11} "
                     f"{_f(r.gold_first_wrong_step_accuracy):>9} "
                     f"{_f(r.median_seconds, '{:.1f}'):>8} {_f(r.tasks_per_hour, '{:.1f}'):>7}")
    lines.append("agreement per field:")
    lines.append(format_report(report.agreement))
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)
