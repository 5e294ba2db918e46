"""Summary statistics of the feedback data (``rhf data stats``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from feedback_data.records.consistency import consistency_flags
from feedback_data.records.schema import ERROR_CODES, FeedbackItem


def feedback_stats(items: list[FeedbackItem]) -> dict[str, Any]:
    """Counts and shares of each error type (a record may count under several) and flags."""
    n = len(items)
    counts: Counter[str] = Counter()
    flag_counts: Counter[str] = Counter()
    flagged: dict[str, list[str]] = {}
    for item in items:
        types = item.feedback.error_types
        if not types:
            counts["None"] += 1
        counts.update(types)
        for flag in consistency_flags(item):
            key = flag.split(":")[0]
            flag_counts[key] += 1
            flagged.setdefault(key, []).append(item.feedback.id)
    share = {t: (counts[t] / n if n else 0.0) for t in ("None", *ERROR_CODES)}
    return {
        "records": n,
        "error_type_counts": {t: counts[t] for t in ("None", *ERROR_CODES)},
        "error_type_shares": share,
        "flags": dict(sorted(flag_counts.items())),
        "flagged_records": {k: v for k, v in sorted(flagged.items())},
    }


def format_stats_table(report: dict[str, Any]) -> str:
    cols = ("None", *ERROR_CODES)
    lines = [
        f"{'task/split':<34}{'records':>8}" + "".join(f"{c:>8}" for c in cols),
    ]
    for task, info in report["tasks"].items():
        for split, st in info["feedback"].items():
            shares = "".join(f"{st['error_type_shares'][c]:>8.1%}" for c in cols)
            lines.append(f"{task + '/' + split:<34}{st['records']:>8}{shares}")
    lines.append("")
    for task, info in report["tasks"].items():
        lines.append(f"{task}: dev set {info['dev_size']} examples"
                     + (f", calibration set {info['calibration_size']}"
                        if info.get("calibration_size") is not None else ""))
    lines.append("")
    lines.append("consistency flags (counted, never dropped):")
    for task, info in report["tasks"].items():
        for split, st in info["feedback"].items():
            for flag, count in st["flags"].items():
                ids = st["flagged_records"][flag]
                shown = ", ".join(ids[:3]) + (" ..." if len(ids) > 3 else "")
                lines.append(f"  {task}/{split:<8} {flag:<28} {count:>5}  e.g. {shown}")
    return "\n".join(lines)


def format_task_stats(report: dict[str, Any]) -> str:
    """The table of `rhf data stats --task T --feedback F`."""
    lines: list[str] = []
    for name, t in report.get("task_specs", {}).items():
        maj = t["majority"]
        majority = (f"'{maj['answer']}' ({maj['share']:.1%} of the labelled dev questions)"
                    if maj.get("answer") is not None else maj.get("note", "n/a"))
        lines += [f"{name} ({t['title']}): {t['answer_type']} answers, {t['loader']}",
                  f"  questions {t['questions']}: dev {t['dev_size']}, train "
                  f"{t['train_size']}; unlabelled {t['unlabelled']}; repeated questions "
                  f"left out {t['duplicates_left_out']}",
                  f"  majority class of the dev set: {majority}",
                  f"  shot pool: {t['shot_pool']}"]
        if t.get("conflicting_left_out"):
            lines.append(f"  FLAG contradicting duplicates: {t['conflicting_left_out']} records "
                         f"of {len(t['conflicts'])} questions whose gold answers disagree, "
                         "left out:")
            lines += [f"    {c}" for c in t["conflicts"]]
        lines += [f"  PROBLEM {p}" for p in t.get("problems", [])]
        lines.append("")
    cols = ("None", *ERROR_CODES)
    files = report.get("feedback_files", {})
    if files:
        lines.append(f"{'feedback file':<34}{'records':>8}" + "".join(f"{c:>8}" for c in cols))
        for path, st in files.items():
            shares = "".join(f"{st['error_type_shares'][c]:>8.1%}" for c in cols)
            lines.append(f"{path[-34:]:<34}{st['records']:>8}{shares}")
        for path, st in files.items():
            for flag, count in st["flags"].items():
                lines.append(f"  {path[-30:]} {flag:<28} {count:>5}")
    return "\n".join(lines).rstrip()
