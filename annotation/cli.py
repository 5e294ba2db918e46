"""`rhf annotate`: run a Label Studio feedback campaign (thin shells over annotation.*).

The server comes from --url or $LABEL_STUDIO_URL, the key from $LABEL_STUDIO_API_KEY (never
printed). User errors end in one line on stderr and exit code 1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from annotation.cli_support import (
    ChainsArg,
    FromPaper,
    Model,
    ScoreBatch,
    ScoreDevice,
    ScoreDtype,
    Split,
    Title,
    Url,
    convert_file,
)
from annotation.cli_support import client as _client
from annotation.cli_support import critic_from_context as _critic
from annotation.cli_support import load_items as _load_items
from annotation.cli_support import project_id as _project
from annotation.cli_support import read_chain_source as _read_chains
from annotation.cli_support import user_errors as _user_errors

app = typer.Typer(help="Label Studio campaign: setup, score, push, simulate, pull, agreement, "
                       "adjudicate.", no_args_is_help=True, pretty_exceptions_enable=False)

@app.command()
@_user_errors
def setup(url: Url = None, project: Title = None,
          webhook_url: Annotated[str | None, typer.Option(
              help="Where Label Studio posts annotation events (rhf serve's "
                   "/webhook/label-studio); secret from $RHF_WEBHOOK_SECRET.")] = None,
          overlap: Annotated[int, typer.Option(
              help="Annotators per task (Label Studio's maximum annotations per task).")] = 1,
          task: Annotated[str | None, typer.Option(
              help="The task (a name or a task YAML file) whose chains the project reviews: "
                   "its answer type picks the interface's answer area (default: yes/no, "
                   "the built-in tasks). One project per answer type.")] = None,
          ) -> None:
    """Create the project (or find it by title and refresh its interface)."""
    from annotation.campaign import DEFAULT_TITLE, setup_project
    from feedback_data.tasks.registry import get_task

    answer_type = get_task(task).answer_type if task is not None else "yes_no"
    secret = os.environ.get("RHF_WEBHOOK_SECRET")
    if webhook_url and not secret:
        raise ValueError("--webhook-url needs RHF_WEBHOOK_SECRET (rhf serve refuses unsigned "
                         "calls)")
    with _client(url) as client:
        pid = setup_project(client, project or DEFAULT_TITLE, webhook_url, secret, overlap,
                            answer_type)
        typer.echo(f"project {pid} '{project or DEFAULT_TITLE}' on {client.url}, "
                   f"{overlap} annotator(s) per task, {answer_type} answers"
                   + (f", webhook to {webhook_url}" if webhook_url else ""))


@app.command("config")
@_user_errors
def config_command(
        task: Annotated[str | None, typer.Option(
            help="The task (a name or a task YAML file): its answer type picks the answer "
                 "area (default: yes/no, the built-in tasks).")] = None,
        out: Annotated[Path | None, typer.Option(
            help="Write the labeling XML here (default: print it).")] = None) -> None:
    """The labeling interface's XML, offline (no server): what `rhf annotate setup` sends;
    paste it into a project's Labeling Interface to import by hand."""
    from annotation.labeling_config import labeling_config
    from feedback_data.files.io import write_text
    from feedback_data.tasks.registry import get_task

    xml = labeling_config(get_task(task).answer_type if task is not None else "yes_no")
    if out is None:
        typer.echo(xml)
    else:
        write_text(out, xml if xml.endswith("\n") else xml + "\n")
        typer.echo(f"wrote the labeling interface to {out}")


@app.command("tasks")
@_user_errors
def tasks_command(
        chains: Annotated[Path, typer.Argument(help="Chains JSONL (`rhf chains generate`).")],
        out: Annotated[Path, typer.Option(help="Where to write the import-ready tasks "
                                               "(a JSON list of {\"data\": ...}).")],
        task: Annotated[str, typer.Option(
            help="The chains' task (a name or a task YAML file).")],
        examples: Annotated[Path | None, typer.Option(
            help="JSONL of the chains' questions when they are not the task's own data (the "
                 "file given to `rhf chains generate --examples`).")] = None,
        pilot: Annotated[int | None, typer.Option(help="Only the first N chains.")] = None,
) -> None:
    """Label Studio tasks for CHAINS, offline (no server): the file a project imports (Data
    Import, or the import API), each task with its pre-filled correction and hints."""
    from annotation.tasks import write_import_file
    from feedback_data.tasks.registry import get_task

    spec = get_task(task)
    chain_list, _ = _read_chains(chains, None, "train", pilot)
    example_map = ({e.id: e for e in _read_questions(examples, chain_list)}
                   if examples is not None else None)
    count = write_import_file(out, chain_list, spec.name, example_map, pilot=pilot)
    typer.echo(f"wrote {count} tasks to {out} (import into a project set up with "
               f"`rhf annotate config --task {task}`)")


@app.command()
@_user_errors
def push(ctx: typer.Context,
         chains: ChainsArg = None,
         from_paper: FromPaper = None,
         split: Split = "train",
         examples: Annotated[Path | None, typer.Option(
             help="JSONL of the chains' questions: Example records, or the plain "
                  "{question[, id, answer, ...]} file given to `rhf chains generate "
                  "--examples` (default: the tasks' own data).")] = None,
         pilot: Annotated[int | None, typer.Option(help="Only the first N chains.")] = None,
         batch_size: Annotated[int, typer.Option(help="Tasks per import request.")] = 500,
         order: Annotated[str, typer.Option(
             help="given | random | uncertainty (most uncertain critic P(no error) first; "
                  "needs --model or --scores). Label Studio serves tasks in this order.")]
         = "given",
         scores: Annotated[Path | None, typer.Option(
             help="JSONL of {chain_id, p_no_error} from the critic (for --order "
                  "uncertainty; `rhf annotate score` writes it).")] = None,
         model: Model = None,
         score_batch_size: ScoreBatch = 32,
         device: ScoreDevice = "auto",
         dtype: ScoreDtype = "auto",
         seed: Annotated[int, typer.Option(help="Seed of --order random and gold mixing.")] = 0,
         gold: Annotated[Path | None, typer.Option(
             help="FeedbackItems whose labels are known (e.g. the paper's): their chains are "
                  "mixed into the queue; the labels stay here (for `rhf annotate report`).")]
         = None,
         gold_rate: Annotated[float, typer.Option(
             help="Share of the queue that is gold, with --gold.")] = 0.1,
         task: Annotated[list[str] | None, typer.Option(
             help="Task YAML file of the chains' task when it is not built in (repeatable; "
                  "or set RHF_TASK_PATH).")] = None,
         url: Url = None, project: Title = None) -> None:
    """Import chains as tasks in annotation order; chains already in the project are skipped."""
    from feedback_data.tasks.registry import get_task

    for spec in task or []:
        get_task(spec)
    from annotation.campaign import push_chains
    from annotation.queue import mix_gold, order_chains, read_scores
    from annotation.tasks import known_examples
    from feedback_data.records.jsonl import read_records
    from feedback_data.records.schema import FeedbackItem

    if model is not None and scores is not None:
        raise ValueError("give --model (score the chains now) or --scores FILE, not both")
    if (model is not None or scores is not None) and order != "uncertainty":
        raise ValueError(f"--{'model' if model is not None else 'scores'} is for "
                         f"--order uncertainty (got --order {order})")
    critic = _critic(ctx) if model is not None else None
    chain_list, example_map = _read_chains(chains, from_paper, split, pilot)
    if example_map is None:
        if examples is not None:
            example_map = {e.id: e for e in _read_questions(examples, chain_list)}
        else:
            example_map = known_examples({c.task for c in chain_list})
    chain_scores = read_scores(scores) if scores is not None else None
    gold_items = read_records(gold, FeedbackItem) if gold is not None else None
    with _client(url) as client:
        pid = _project(client, project)  # a wrong server or token fails before scoring
        if critic is not None:
            chain_scores = critic(model, chain_list, batch_size=score_batch_size,
                                  device=device, dtype=dtype)
        chain_list = order_chains(chain_list, order, seed=seed, scores=chain_scores)
        if gold_items is not None:
            example_map = {**example_map, **{i.example.id: i.example for i in gold_items}}
            gold_chains = list({i.chain.id: i.chain for i in gold_items
                                if i.chain.steps}.values())
            chain_list = mix_gold(chain_list, gold_chains, gold_rate, seed)
        report = push_chains(client, pid, chain_list, example_map, batch_size=batch_size,
                             pilot=pilot)
    typer.echo(f"pushed {report.sent} tasks ({report.already_there} already in the project)")


def _read_questions(path: Path, chains: list) -> list:
    """The questions of ``path``: Example records (of any tasks), or the plain question file
    of the chains' one task (as `rhf chains generate --examples` read it)."""
    from feedback_data.records.jsonl import iter_json_lines, read_records
    from feedback_data.records.schema import Example
    from feedback_data.tasks.loaders import read_questions
    from feedback_data.tasks.registry import get_task

    first = next((obj for _, obj in iter_json_lines(path)), {})
    tasks = {c.task for c in chains}
    if "task" in first or len(tasks) != 1:
        return read_records(path, Example)
    return read_questions(path, get_task(tasks.pop()))


@app.command()
@_user_errors
def score(ctx: typer.Context,
          out: Annotated[Path, typer.Option(
              help="Where to write {chain_id, p_no_error} lines (push's --scores file).",
              show_default=False)],
          chains: ChainsArg = None,
          from_paper: FromPaper = None,
          split: Split = "train",
          pilot: Annotated[int | None, typer.Option(
              help="Only the first N paper chains, with --from-paper.")] = None,
          model: Model = None,
          batch_size: ScoreBatch = 32,
          device: ScoreDevice = "auto",
          dtype: ScoreDtype = "auto") -> None:
    """Score chains with the critic's P(no error), for `push --order uncertainty --scores`."""
    from annotation.queue import write_scores

    if model is None:
        raise ValueError("--model is required (the critic checkpoint)")
    critic = _critic(ctx)
    chain_list, _ = _read_chains(chains, from_paper, split, pilot)
    n = write_scores(out, critic(model, chain_list, batch_size=batch_size, device=device,
                                 dtype=dtype))
    typer.echo(f"wrote {n} critic scores to {out}")


@app.command()
@_user_errors
def pull(out: Annotated[Path, typer.Argument(help="Where to write FeedbackItems (JSONL).")],
         store: Annotated[Path | None, typer.Option(
             help="Webhook feedback store to reconcile with.")] = None,
         from_file: Annotated[Path | None, typer.Option(
             help="Convert this JSON export (saved from Label Studio's UI) instead of asking "
                  "the server.")] = None,
         url: Url = None, project: Title = None,
         keep_good: Annotated[bool, typer.Option(
             help="Write the good annotations even when some are bad, and list the bad ones "
                  "(task, annotation, field, why, and the annotation as exported) in the "
                  "rejects file. Without it any bad annotation refuses the whole export, "
                  "naming every bad one.")] = False,
         rejects: Annotated[Path | None, typer.Option(
             help="With --keep-good: where the bad annotations are listed (JSONL; default "
                  "OUT's name with .rejects.jsonl).")] = None) -> None:
    """Export every submitted annotation as FeedbackItems (all or nothing, unless
    --keep-good); every bad annotation is named."""
    from annotation.campaign import pull_conversion, reconcile
    from feedback_data.files.io import write_bytes
    from feedback_data.records.jsonl import write_records
    from feedback_data.records.store import FeedbackStore

    if rejects is not None and not keep_good:
        raise ValueError("--rejects needs --keep-good")
    if from_file is not None:
        conversion = convert_file(from_file, keep_good)
    else:
        with _client(url) as client:
            conversion = pull_conversion(client, _project(client, project), keep_good)
    items = conversion.items
    write_records(out, items)
    if keep_good:
        rejects = rejects or out.with_name(out.name.removesuffix(".jsonl") + ".rejects.jsonl")
        write_bytes(rejects, "".join(json.dumps(r.record(), default=str) + "\n"
                                     for r in conversion.rejected).encode("ascii"))
        typer.echo(f"kept {len(items)} good records of {conversion.total} annotations; "
                   f"listed {len(conversion.rejected)} bad ones in {rejects}")
    by_source: dict[str, int] = {}
    for item in items:
        by_source[item.feedback.source] = by_source.get(item.feedback.source, 0) + 1
    typer.echo(f"wrote {len(items)} records to {out} "
               + json.dumps(by_source, sort_keys=True))
    typer.echo(conversion.summary())
    if store is not None:
        typer.echo(reconcile(items, FeedbackStore(store).read()).summary())


@app.command()
@_user_errors
def simulate(annotators: Annotated[int, typer.Option(help="Number of bot annotators.")] = 1,
             noise: Annotated[float, typer.Option(
                 help="Chance that a bot flips its judgement on a task.")] = 0.0,
             seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
             limit: Annotated[int | None, typer.Option(help="Only the first N tasks.")] = None,
             url: Url = None, project: Title = None) -> None:
    """Submit bot annotations derived from gold data (records carry source=simulated)."""
    from annotation.simulate import simulate_annotations

    with _client(url) as client:
        n = simulate_annotations(client, _project(client, project), annotators, noise, seed,
                                 limit)
    typer.echo(f"submitted {n} simulated annotations")


@app.command()
@_user_errors
def agreement(feedback: Annotated[Path | None, typer.Argument(
                  help="Pulled FeedbackItems (default: pull from the server).")] = None,
              json_out: Annotated[Path | None, typer.Option(
                  "--json", help="Also write the report as JSON.")] = None,
              url: Url = None, project: Title = None) -> None:
    """Agreement between annotators of the same chains (alpha, kappa, steps, corrections)."""
    from annotation.agreement import agreement as compute
    from annotation.agreement import format_report
    from feedback_data.files.io import write_json

    report = compute(_load_items(feedback, url, project))
    typer.echo(format_report(report))
    if json_out is not None:
        write_json(json_out, report.as_dict())


@app.command()
@_user_errors
def adjudicate(out: Annotated[Path, typer.Argument(help="Where to write adjudicated records.")],
               feedback: Annotated[Path | None, typer.Option(
                   help="Pulled FeedbackItems (default: pull from the server).")] = None,
               reviewer: Annotated[str | None, typer.Option(
                   help="Annotator (email) whose annotation wins.")] = None,
               url: Url = None, project: Title = None) -> None:
    """One Feedback per chain whose annotators disagree (reviewer wins, else majority)."""
    from annotation.adjudicate import adjudicate as run
    from feedback_data.records.jsonl import write_records

    items = run(_load_items(feedback, url, project), reviewer)
    write_records(out, items)
    typer.echo(f"wrote {len(items)} adjudicated records to {out}")


@app.command()
@_user_errors
def report(feedback: Annotated[Path | None, typer.Argument(
               help="Pulled FeedbackItems (default: pull from the server).")] = None,
           gold: Annotated[Path | None, typer.Option(
               help="FeedbackItems with the known labels of the gold chains.")] = None,
           json_out: Annotated[Path | None, typer.Option(
               "--json", help="Also write the report as JSON.")] = None,
           url: Url = None, project: Title = None) -> None:
    """Quality: accuracy on gold per annotator, agreement per field, seconds per task, tasks/h."""
    from annotation.quality import format_quality, quality_report
    from feedback_data.files.io import write_json
    from feedback_data.records.jsonl import read_records
    from feedback_data.records.schema import FeedbackItem

    gold_map = ({i.chain.id: i for i in read_records(gold, FeedbackItem)}
                if gold is not None else None)
    result = quality_report(_load_items(feedback, url, project), gold_map)
    typer.echo(format_quality(result))
    if json_out is not None:
        write_json(json_out, result.as_dict())
