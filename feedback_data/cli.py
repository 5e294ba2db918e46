"""`rhf data ...`: fetch the datasets, import the paper's feedback, print statistics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from feedback_data.cli_errors import fail
from feedback_data.jsonl import DataError

app = typer.Typer(help="Datasets and feedback: fetch, import, statistics, export.",
                  no_args_is_help=True)



@app.command()
def fetch(
    force: Annotated[bool, typer.Option(help="Download and import again even if cached.")] = False,
    feedback_source: Annotated[str | None, typer.Option(
        help="Folder or repository URL of the paper's feedback "
             "(default: $RHF_FEEDBACK_SOURCE, else the paper's repository).")] = None,
) -> None:
    """Download BIG-bench (pinned sha256) and the paper's feedback into the cache, then import."""
    from feedback_data.fetch import FetchError, fetch_bigbench, fetch_feedback
    from feedback_data.store import import_paper_feedback

    try:
        fetch_bigbench(force=force)
        fetch_feedback(feedback_source, force=force)
        import_paper_feedback()
    except (FetchError, DataError) as exc:
        fail(str(exc))


def build_stats() -> dict:
    from feedback_data.splits import calibration_items, dev_examples
    from feedback_data.stats import feedback_stats
    from feedback_data.store import PAPER_SPLITS, load_paper_feedback

    report: dict = {"tasks": {}}
    for task, split in PAPER_SPLITS:
        info = report["tasks"].setdefault(task, {"feedback": {}})
        info["feedback"][split] = feedback_stats(load_paper_feedback(task, split))
    for task, info in report["tasks"].items():
        info["dev_size"] = len(dev_examples(task))
        info["calibration_size"] = len(calibration_items()) if task == "strategyqa" else None
    return report


@app.command()
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Per task: record counts, error-type shares, dev/calibration sizes, consistency flags."""
    from feedback_data.stats import format_stats_table

    try:
        report = build_stats()
    except DataError as exc:
        fail(str(exc))
    typer.echo(json.dumps(report, indent=2) if as_json else format_stats_table(report))


EXPORT_FORMATS = ("jsonl", "hf")


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
    """Write ``items`` to ``out`` in ``fmt``; refuses to replace what is there without
    ``force``. Each format writes beside the target first, then renames, so a failed export
    leaves the old file or folder as it was."""
    if fmt not in EXPORT_FORMATS:
        raise DataError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}")
    check_target(out, fmt == "hf", fmt, force)
    if out.parent.exists() and not out.parent.is_dir():
        raise DataError(f"{out.parent} is a file, not a folder")
    from feedback_data.disk_full import DiskFull

    try:
        if fmt == "jsonl":
            from feedback_data.jsonl import write_records

            write_records(out, items)
        else:
            _save_hf(items, out)
    except DiskFull as exc:
        raise DataError(str(exc)) from None
    except OSError as exc:
        raise DataError(f"cannot write {out}: {exc.strerror or exc}") from None


def _save_hf(items: list, out: Path) -> None:
    from feedback_data.hf_dataset import save_items
    from feedback_data.jsonl import atomic_folder

    with atomic_folder(out) as staged:
        save_items(items, staged)


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="Output file (jsonl) or folder (hf).")],
    task: Annotated[str, typer.Option(help="strategyqa or sports_understanding.")] = "strategyqa",
    split: Annotated[str, typer.Option(help="train or eval.")] = "train",
    fmt: Annotated[str, typer.Option("--format", help=(
        "jsonl or hf (datasets save_to_disk) for rhf's records; or a TRL format: sft, "
        "sft-critique, kto, dpo, prm, processbench (JSONL when OUT ends in .jsonl, else a "
        "dataset folder)."))] = "jsonl",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing OUT.")] = False,
    contradicting_corrections: Annotated[str, typer.Option(help=(
        "TRL formats: a correction whose answer contradicts the gold answer is no SFT / KTO "
        "True / DPO chosen target ('drop', the default) or one like any other ('keep')."))
    ] = "drop",
) -> None:
    """Export imported feedback: rhf's records (JSONL / dataset) or a TRL training format."""
    from feedback_data.store import PAPER_SPLITS, load_paper_feedback
    from feedback_data.trl_formats import TRL_FORMATS, export_cli
    from feedback_data.write_lock import OutputLocked, file_lock, hold

    formats = (*EXPORT_FORMATS, *TRL_FORMATS)
    try:
        if (task, split) not in PAPER_SPLITS:
            known = ", ".join(f"{t}/{s}" for t, s in PAPER_SPLITS)
            raise DataError(f"no feedback for --task {task} --split {split}; one of {known}")
        if fmt not in formats:
            raise DataError(f"--format must be one of {', '.join(formats)}, not {fmt!r}")
        items = load_paper_feedback(task, split)
        if out.parent.exists() and not out.parent.is_dir():
            raise DataError(f"{out.parent} is a file, not a folder")
        # One writer per target: a second export to the same OUT fails at once.
        with hold(file_lock(out), str(out), "wait for it to finish, or choose another OUT "
                                            "(nothing was written)"):
            if fmt in TRL_FORMATS:
                check_target(out, out.suffix != ".jsonl", fmt, force)
                return export_cli(fmt, items, out, echo=typer.echo, fail=fail,
                                  contradicting=contradicting_corrections)
            export_items(items, out, fmt, force=force)
    except (DataError, OutputLocked) as exc:
        fail(str(exc))
    typer.echo(f"wrote {len(items)} records to {out}")
