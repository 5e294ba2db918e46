"""What the `rhf annotate` commands share: option types, the one-line error wrapper, the
Label Studio client and project lookup, the critic hand-off, and reading chains and exports.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])
Url = Annotated[str | None, typer.Option(help="Label Studio URL (default $LABEL_STUDIO_URL).")]
Title = Annotated[str | None, typer.Option("--project", help="Project title.")]


def user_errors(fn: F) -> F:
    """Turn expected failures into one line on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from annotation.client import LabelStudioError
        from feedback_data.errors import DataError
        from feedback_data.files.disk_full import DiskFull

        try:
            return fn(*args, **kwargs)
        except (LabelStudioError, DataError, ValueError, DiskFull) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def client(url: str | None):
    from annotation.client import LabelStudioClient

    return LabelStudioClient.from_env(url)


def project_id(client, title: str | None) -> int:
    from annotation.campaign import DEFAULT_TITLE
    from annotation.client import LabelStudioError

    title = title or DEFAULT_TITLE
    project = client.find_project(title)
    if project is None:
        raise LabelStudioError(f"no project '{title}' on {client.url}: run `rhf annotate setup`")
    return int(project["id"])


# Where the top layer (rhf_cli, via pipeline.critic_scores.register_critic) puts the critic
# for --model: a function (model, chains, *, batch_size) -> chain id -> P(no error). annotation
# must not load models itself (it never imports inference or eval).
CRITIC_KEY = "rhf.critic_scores"
Critic = Callable[..., dict[str, float]]
Model = Annotated[str | None, typer.Option(
    "--critic-model", "--model",
    help="Critic checkpoint (hub id, folder or RUN_DIR; a multitask model or a separate "
         "critic from `rhf train --objective critic`): score each chain's P(no error) with "
         "it (the error-types instruction, as `rhf eval` calibrates; the checkpoint's "
         "critic.json scoring and temperature applied).")]
ScoreBatch = Annotated[int, typer.Option(help="Chains per scoring batch, with --model.")]
# Checked where the critic loads (inference.precision; annotation never imports it).
ScoreDevice = Annotated[str, typer.Option(
    help="With --model: where the critic runs (auto, cpu, cuda, cuda:N or mps; auto: the GPU "
         "when torch sees one).")]
ScoreDtype = Annotated[str, typer.Option(
    help="With --model: the critic's precision (auto, float32, bfloat16 or float16; auto: "
         "bfloat16 on a GPU that runs it, else float32).")]
ChainsArg = Annotated[Path | None, typer.Argument(help="JSONL of Chain records.",
                                                  show_default=False)]
FromPaper = Annotated[str | None, typer.Option(
    help="The imported paper chains of this task instead.")]
Split = Annotated[str, typer.Option(help="Paper split with --from-paper.")]


def critic_from_context(ctx: typer.Context) -> Critic:
    """The critic the top layer registered on the context, or a clear error."""
    obj = ctx.find_root().obj
    critic = obj.get(CRITIC_KEY) if isinstance(obj, dict) else None
    if critic is None:
        raise ValueError("--model needs the critic, which only the `rhf` command provides "
                         "(annotation does not load models): run `rhf annotate ...`, or give "
                         "--scores FILE")
    return critic


def read_chain_source(chains: Path | None, from_paper: str | None, split: str,
                 pilot: int | None):
    """(chains, examples of the paper chains or None) from CHAINS.jsonl or --from-paper."""
    from annotation.tasks import paper_chains, read_chains

    if (chains is None) == (from_paper is None):
        raise ValueError("give either CHAINS.jsonl or --from-paper TASK")
    if from_paper is not None:
        return paper_chains(from_paper, split, limit=pilot)
    return read_chains(chains), None


def convert_file(path: Path, keep_good: bool = False):
    """Convert a JSON export file; every error names the file (``keep_good``: bad
    annotations are listed in the result's ``rejected`` instead of refusing the file)."""
    from annotation.convert import convert
    from feedback_data.errors import DataError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") \
            from exc
    try:
        tasks = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON at line {exc.lineno} ({exc.msg})") from exc
    except RecursionError as exc:
        raise DataError(f"{path}: JSON nested too deeply") from exc
    try:
        return convert(tasks, {}, keep_good=keep_good)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from exc


def load_items(feedback: Path | None, url: str | None, project: str | None):
    """The FeedbackItems of a file (a pull or the webhook's store: the latest version of each
    annotation, as every reader of a store sees it), else pulled from the server."""
    from annotation.campaign import pull_feedback
    from feedback_data.records.store import FeedbackStore

    if feedback is not None:
        return FeedbackStore(feedback).latest()
    with client(url) as ls:
        return pull_feedback(ls, project_id(ls, project))
