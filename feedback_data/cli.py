"""`rhf data ...`: fetch the datasets, import the paper's feedback, print statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from feedback_data.errors import DataError, fail
from feedback_data.registry import lazy_help_option

app = typer.Typer(help="Datasets and feedback: fetch, import, statistics, export.",
                  no_args_is_help=True)



@app.command()
def fetch(
    force: Annotated[bool, typer.Option(help="Fetch and import again even if cached.")] = False,
    from_dir: Annotated[list[Path] | None, typer.Option(
        "--from", help="A local folder with a copy of the BIG-bench tasks, tried before "
        "$RHF_DATA_DIR and the public raw files (BIG-bench's layout: <task>/task.json; "
        "StrategyQA may be its own release). Repeatable.")] = None,
    feedback_source: Annotated[str | None, typer.Option(
        help="Folder or repository URL of the paper's feedback "
             "(default: $RHF_FEEDBACK_SOURCE, else the paper's repository).")] = None,
) -> None:
    """Fetch the built-in tasks' data and the paper's feedback into the cache, then import.

    BIG-bench data comes from the first source with a faithful copy: the --from folders,
    then $RHF_DATA_DIR's, then BIG-bench's and StrategyQA's public raw files; each copy is
    checked by the content digest of its examples, and where each task came from is printed
    and kept in the cache (SOURCE.json).
    """
    from feedback_data.sources.fetch import FetchError, fetch_bigbench, fetch_feedback
    from feedback_data.sources.paper_import import import_paper_feedback

    try:
        fetch_bigbench(force=force, from_dirs=from_dir or ())
        fetch_feedback(feedback_source, force=force)
        import_paper_feedback()
    except (FetchError, DataError) as exc:
        fail(str(exc))


def build_stats() -> dict:
    from feedback_data.records.stats import feedback_stats
    from feedback_data.sources.paper_import import PAPER_SPLITS, load_paper_feedback
    from feedback_data.sources.splits import calibration_items, dev_examples

    report: dict = {"tasks": {}}
    for task, split in PAPER_SPLITS:
        info = report["tasks"].setdefault(task, {"feedback": {}})
        info["feedback"][split] = feedback_stats(load_paper_feedback(task, split))
    for task, info in report["tasks"].items():
        info["dev_size"] = len(dev_examples(task))
        info["calibration_size"] = len(calibration_items()) if task == "strategyqa" else None
    return report


def build_task_stats(tasks: list[str], feedback: list[Path]) -> dict:
    """`rhf data stats --task T [--feedback F]`: each task's data (sizes, answers, majority
    class, shots) and the statistics of feedback files (e.g. a pull of its annotations)."""
    from feedback_data.records.jsonl import read_records
    from feedback_data.records.schema import FeedbackItem
    from feedback_data.records.stats import feedback_stats
    from feedback_data.tasks.data import task_summary

    report: dict = {"task_specs": {}, "feedback_files": {}}
    for task in tasks:
        summary = task_summary(task)
        report["task_specs"][summary["name"]] = summary
    for path in feedback:
        report["feedback_files"][str(path)] = feedback_stats(read_records(path, FeedbackItem))
    return report


@app.command()
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    task: Annotated[list[str] | None, typer.Option(
        help="A task name or task YAML file: its questions, dev/train sizes, answers, "
             "majority class and shots, instead of the paper's data (repeatable).")] = None,
    feedback: Annotated[list[Path] | None, typer.Option(
        help="FeedbackItems JSONL (e.g. `rhf annotate pull` output): its error-type shares "
             "and consistency flags (repeatable).")] = None,
) -> None:
    """Per task: record counts, error-type shares, dev/calibration sizes, consistency flags.

    With --task / --feedback: those tasks' data and those feedback files instead."""
    from feedback_data.records.stats import format_stats_table, format_task_stats

    try:
        if task or feedback:
            report = build_task_stats(list(task or []), list(feedback or []))
        else:
            report = build_stats()
    except (DataError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(format_task_stats(report) if (task or feedback)
                   else format_stats_table(report))
    problems = [p for t in report.get("task_specs", {}).values() for p in t["problems"]]
    if problems:
        fail(f"{len(problems)} problem(s) with the task's shots; first: {problems[0]}")


@app.command()
def check(
    task: Annotated[list[str], typer.Option(
        help="A task name or task YAML file to check (repeatable).")],
    k: Annotated[int, typer.Option(
        help="Shots the prompts will ask for (rhf eval / infer's --k): the shot pool must "
             "hold this many.")] = 4,
) -> None:
    """Check tasks before any model runs: the spec, every record, the shots (file or prompt,
    none a dev question, each with its answer and explanation) and that --k shots exist.

    Prints one line per task and exits 0, or one line per problem and exits 1."""
    from feedback_data.tasks.data import task_problems, task_summary

    problems: list[str] = []
    for value in task:
        try:
            found = task_problems(value, k)
            summary = task_summary(value) if not found else None
        except (DataError, ValueError) as exc:
            found, summary = [str(exc)], None
        problems += found
        for p in found:
            typer.secho(f"problem: {p}", fg=typer.colors.RED, err=True)
        if summary is not None:
            flag = (f"; FLAG {summary['conflicting_left_out']} records with contradicting "
                    "gold answers left out (see rhf data stats)"
                    if summary["conflicting_left_out"] else "")
            typer.echo(f"ok: {summary['name']}: {summary['questions']} questions (dev "
                       f"{summary['dev_size']}, train {summary['train_size']}), "
                       f"{summary['shot_pool']} shots for --k {k}{flag}")
    if problems:
        fail(f"{len(problems)} problem(s); nothing was run")


FORMAT_OPTION_HELP = ("A registered export format (feedback_data/exports/formats.py): "
                      "rhf's records or training rows (JSONL when OUT ends in .jsonl, else a "
                      "dataset folder).")


def _formats_help() -> str:
    """``--format``'s help: the export-format registry when help is shown (so a format
    registered after import, a plugin's or a test's, is listed)."""
    from feedback_data.exports.formats import EXPORT_FORMATS

    listed = "; ".join(f"{f.name} ({f.help or f.kind}"
                       + (", takes --contradicting-corrections)" if f.uses_correction else ")")
                       for f in EXPORT_FORMATS)
    return f"{FORMAT_OPTION_HELP} One of {listed}."


def _record_formats() -> tuple[str, ...]:
    from feedback_data.exports.formats import EXPORT_FORMATS

    return tuple(f.name for f in EXPORT_FORMATS if f.kind == "records")


def check_target(out: Path, wants_folder: bool, fmt: str, force: bool) -> None:
    """Refuse to replace ``out`` without ``force``, or to put a file where a folder is."""
    if out.exists():
        if out.is_dir() != wants_folder:
            kind = "a folder" if out.is_dir() else "a file"
            raise DataError(f"{out} is {kind}; --format {fmt} writes "
                            f"{'a folder' if wants_folder else 'a file'}")
        if not force:
            raise DataError(f"{out} already exists; pass --force to replace it")


def export_items(items: list, out: Path, fmt: str, force: bool = False) -> None:
    """Write ``items`` to ``out`` in the records format ``fmt``; refuses to replace what is
    there without ``force``. Each format writes beside the target first, then renames, so a
    failed export leaves the old file or folder as it was."""
    from feedback_data.exports.formats import EXPORT_FORMATS

    records = _record_formats()
    if fmt not in records:
        raise DataError(f"--format must be one of {', '.join(records)}, not {fmt!r}")
    entry = EXPORT_FORMATS.get(fmt)
    check_target(out, entry.writes_folder, fmt, force)
    if out.parent.exists() and not out.parent.is_dir():
        raise DataError(f"{out.parent} is a file, not a folder")
    from feedback_data.files.disk_full import DiskFull

    try:
        assert entry.write is not None
        entry.write(items, out)
    except DiskFull as exc:
        raise DataError(str(exc)) from None
    except OSError as exc:
        raise DataError(f"cannot write {out}: {exc.strerror or exc}") from None


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="Output file (jsonl) or folder (hf).")],
    task: Annotated[str, typer.Option(help="strategyqa or sports_understanding.")] = "strategyqa",
    split: Annotated[str, typer.Option(help="train or eval.")] = "train",
    fmt: Annotated[str, lazy_help_option(_formats_help, "--format")] = "jsonl",
    feedback: Annotated[Path | None, typer.Option(
        help="Export these FeedbackItems (JSONL, e.g. `rhf annotate pull` output on your own "
             "task) instead of the paper's --task/--split.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing OUT.")] = False,
    contradicting_corrections: Annotated[str, typer.Option(help=(
        "The formats whose targets hold the correction (--format says which; e.g. SFT, KTO, "
        "DPO): a correction whose answer contradicts the gold answer is no SFT / KTO True / "
        "DPO chosen target ('drop', the default) or one like any other ('keep')."))
    ] = "drop",
) -> None:
    """Export feedback: rhf's records (JSONL / dataset) or a training format (TRL, ...)."""
    from feedback_data.exports.formats import EXPORT_FORMATS, export_rows
    from feedback_data.exports.trl import ExportError
    from feedback_data.files.write_lock import OutputLocked, file_lock, hold
    from feedback_data.records.jsonl import read_records
    from feedback_data.records.schema import FeedbackItem
    from feedback_data.sources.paper_import import PAPER_SPLITS, load_paper_feedback

    try:
        if fmt not in EXPORT_FORMATS:
            raise DataError(f"--format must be one of {', '.join(EXPORT_FORMATS.names())}, "
                            f"not {fmt!r}")
        entry = EXPORT_FORMATS.get(fmt)
        if feedback is not None:
            items = read_records(feedback, FeedbackItem)
        else:
            if (task, split) not in PAPER_SPLITS:
                known = ", ".join(f"{t}/{s}" for t, s in PAPER_SPLITS)
                raise DataError(f"no feedback for --task {task} --split {split}; one of "
                                f"{known}")
            items = load_paper_feedback(task, split)
        if out.parent.exists() and not out.parent.is_dir():
            raise DataError(f"{out.parent} is a file, not a folder")
        # One writer per target: a second export to the same OUT fails at once.
        with hold(file_lock(out), str(out), "wait for it to finish, or choose another OUT "
                                            "(nothing was written)"):
            if entry.kind == "rows":
                check_target(out, out.suffix != ".jsonl", fmt, force)
                try:
                    report = export_rows(fmt, items, out, contradicting_corrections)
                except (ExportError, OSError) as exc:
                    fail(str(exc))
                typer.echo(f"wrote {report.rows} rows to {out}")
                typer.echo(report.summary())
                return
            export_items(items, out, fmt, force=force)
    except (DataError, ValueError, OutputLocked) as exc:
        fail(str(exc))
    typer.echo(f"wrote {len(items)} records to {out}")
