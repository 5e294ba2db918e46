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


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="Output file (jsonl) or folder (hf).")],
    task: Annotated[str, typer.Option(help="strategyqa or sports_understanding.")] = "strategyqa",
    split: Annotated[str, typer.Option(help="train or eval.")] = "train",
    fmt: Annotated[str, typer.Option("--format", help=(
        "jsonl or hf (datasets save_to_disk) for rhf's records; or a TRL format: sft, "
        "sft-critique, kto, dpo, prm, processbench (JSONL when OUT ends in .jsonl, else a "
        "dataset folder)."))] = "jsonl",
) -> None:
    """Export imported feedback: rhf's records (JSONL / dataset) or a TRL training format."""
    from feedback_data.jsonl import write_records
    from feedback_data.store import load_paper_feedback

    try:
        items = load_paper_feedback(task, split)
    except DataError as exc:
        fail(str(exc))
    from feedback_data.trl_formats import TRL_FORMATS, export_cli

    if fmt in TRL_FORMATS:
        return export_cli(fmt, items, out, echo=typer.echo, fail=fail)
    if fmt == "jsonl":
        write_records(out, items)
    elif fmt == "hf":
        from feedback_data.hf_dataset import save_items

        save_items(items, out)
    else:
        fail(f"--format must be jsonl, hf or one of {list(TRL_FORMATS)}, not {fmt!r}")
    typer.echo(f"wrote {len(items)} records to {out}")
