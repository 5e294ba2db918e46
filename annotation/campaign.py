"""The campaign's steps as plain functions: set up a project, push chains, pull feedback,
reconcile a pull with what the webhook captured. The CLI and the demo call these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tqdm import tqdm

from annotation.client import LabelStudioClient, LabelStudioError
from annotation.convert import Conversion, convert, is_simulator_email
from annotation.labeling_config import labeling_config
from annotation.tasks import CHAIN_ID, build_tasks
from feedback_data.records.schema import Chain, Example, FeedbackItem

DEFAULT_TITLE = "rhf rich feedback"
WEBHOOK_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")
SECRET_HEADER = "X-Rhf-Webhook-Secret"


def setup_project(client: LabelStudioClient, title: str = DEFAULT_TITLE,
                  webhook_url: str | None = None, webhook_secret: str | None = None,
                  overlap: int = 1, answer_type: str = "yes_no") -> int:
    """Create the project (or find it by title, refreshing its interface); return its id.

    ``overlap`` annotators review each task (Label Studio's maximum annotations per task,
    applied to every task), so agreement can be computed. Tasks are served in import order
    (sequential sampling): the order annotation.queue decided. With ``webhook_url`` the
    project posts annotation events there, carrying the secret header. ``answer_type`` picks
    the interface's answer area (labeling_config): a project holds one kind of task.
    """
    if overlap < 1:
        raise ValueError(f"overlap must be at least 1, got {overlap}")
    config = labeling_config(answer_type)
    settings = {"maximum_annotations": overlap, "overlap_cohort_percentage": 100,
                "sampling": "Sequential sampling"}
    project = client.find_project(title)
    if project is None:
        project = client.create_project(
            title, config, description="Rich feedback on model-written reasoning chains (rhf).",
            show_skip_button=True, **settings)
    else:
        changed = {k: v for k, v in {"label_config": config, **settings}.items()
                   if project.get(k) != v}
        if changed:
            client.update_project(project["id"], **changed)
    if webhook_url:
        headers = {SECRET_HEADER: webhook_secret} if webhook_secret else {}
        client.ensure_webhook(project["id"], webhook_url, headers, WEBHOOK_ACTIONS)
    return int(project["id"])


ML_BACKEND_TITLE = "rhf critic"


def connect_ml_backend(client: LabelStudioClient, project_id: int, url: str,
                       title: str = ML_BACKEND_TITLE) -> str:
    """Connect ``rhf serve --model`` at ``url`` as the project's ML backend, fetch its
    predictions for every task, and show them to annotators as pre-annotations.

    Returns the model version Label Studio recorded (the one stamped on the predictions).
    """
    backend = next((b for b in client.ml_backends(project_id) if b.get("url") == url), None)
    if backend is None:
        backend = client.add_ml_backend(project_id, url, title)
    if backend.get("state") not in ("CO", "TR", "PR"):  # connected, training, predicting
        raise LabelStudioError(f"ML backend at {url} did not connect: "
                               f"{backend.get('error_message') or backend.get('state')}")
    version = str(backend.get("model_version") or "")
    client.retrieve_predictions(project_id)
    # Pre-annotations shown to annotators: this version's predictions (they now exist).
    client.update_project(project_id, model_version=version, show_collab_predictions=True)
    return version


@dataclass
class PushReport:
    sent: int
    already_there: int


def push_chains(client: LabelStudioClient, project_id: int, chains: Sequence[Chain],
                examples: Mapping[str, Example], batch_size: int = 500,
                pilot: int | None = None, progress: bool = True) -> PushReport:
    """Import chains as tasks, skipping those already in the project (by chain id).

    Every task is built and validated before the first request, so bad input sends nothing.
    """
    if batch_size < 1:
        raise ValueError("batch size must be at least 1")
    unique = list({c.id: c for c in chains}.values())
    if pilot is not None:
        unique = unique[:pilot]
    tasks = build_tasks(unique, examples)
    present = {t.get("data", {}).get(CHAIN_ID) for t in client.iter_tasks(project_id)}
    new = [t for t in tasks if t[CHAIN_ID] not in present]
    sent = 0
    with tqdm(total=len(new), desc="push", unit="task", disable=not progress) as bar:
        for start in range(0, len(new), batch_size):
            batch = new[start:start + batch_size]
            sent += client.import_tasks(project_id, batch)
            bar.update(len(batch))
    return PushReport(sent=sent, already_there=len(tasks) - len(new))


def simulator_ids(users: Mapping[int, str]) -> frozenset[int]:
    return frozenset(uid for uid, email in users.items() if is_simulator_email(email))


def pull_conversion(client: LabelStudioClient, project_id: int, keep_good: bool = False
                    ) -> Conversion:
    """Every submitted annotation of the project, with the counts of what was skipped (and,
    with ``keep_good``, the bad ones listed instead of refusing the whole export)."""
    users = client.users()
    return convert(client.export(project_id), users, simulator_ids(users), keep_good)


def pull_feedback(client: LabelStudioClient, project_id: int) -> list[FeedbackItem]:
    """Every submitted annotation of the project as a FeedbackItem (strict: any bad one raises)."""
    return pull_conversion(client, project_id).items


@dataclass
class Reconciliation:
    """How a pull and the webhook store differ (ids of Feedback records)."""

    missing_in_store: list[str] = field(default_factory=list)
    stale_in_store: list[str] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)
    only_in_store: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing_in_store or self.stale_in_store or self.differing
                    or self.only_in_store)

    def summary(self) -> str:
        if self.clean:
            return "webhook store matches the pull"
        parts = []
        for name in ("missing_in_store", "stale_in_store", "differing", "only_in_store"):
            ids = getattr(self, name)
            if ids:
                shown = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
                parts.append(f"{len(ids)} {name.replace('_', ' ')} ({shown})")
        return "webhook store differs from the pull: " + "; ".join(parts)


def _comparable(item: FeedbackItem) -> dict:
    return item.model_dump(mode="json", exclude={"feedback": {"raw"}})


def reconcile(pulled: Iterable[FeedbackItem], stored: Iterable[FeedbackItem]) -> Reconciliation:
    """Compare the pull with the store: each pulled record's version must be captured, equal."""
    by_key = {(i.feedback.id, i.feedback.time): i for i in stored}
    stored_ids = {k[0] for k in by_key}
    out = Reconciliation()
    pulled_ids = set()
    for item in pulled:
        fid = item.feedback.id
        pulled_ids.add(fid)
        captured = by_key.get((fid, item.feedback.time))
        if captured is None:
            (out.stale_in_store if fid in stored_ids else out.missing_in_store).append(fid)
        elif _comparable(captured) != _comparable(item):
            out.differing.append(fid)
    out.only_in_store = sorted(stored_ids - pulled_ids)
    return out

