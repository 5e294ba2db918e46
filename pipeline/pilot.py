"""The demo's annotation pilot: a local Label Studio, the simulated annotator, pulled records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feedback_data.records.schema import PAPER_TASKS


def run_pilot(chain_files: list[str], out: Path, log=print) -> dict[str, Any]:
    """Push ``chain_files`` to a fresh local Label Studio, label them with the simulated
    annotator, pull them; returns the feedback file (records ``source: simulated``)."""
    from annotation.campaign import pull_feedback, push_chains, setup_project
    from annotation.client import LabelStudioClient
    from annotation.server import credentials, start_label_studio
    from annotation.simulate import simulate_annotations
    from annotation.tasks import known_examples, read_chains
    from feedback_data.records.jsonl import write_records

    data_dir = out / "label-studio-data"
    token, password, _ = credentials(data_dir)  # kept in DATA_DIR/credentials (mode 600)
    server = start_label_studio(data_dir, token=token, password=password)
    log(f"Label Studio at {server.url} (user {server.username}; password in "
        f"{data_dir / 'credentials'})")
    try:
        client = LabelStudioClient(server.url, server.token)
        project = setup_project(client, title="rhf demo pilot")
        chains = [c for f in chain_files for c in read_chains(f)]
        push_chains(client, project, chains, known_examples(PAPER_TASKS))
        simulate_annotations(client, project)
        items = pull_feedback(client, project)
    finally:
        server.stop()
    path = out / "simulated_feedback.jsonl"
    write_records(path, items)
    log(f"Label Studio pilot: {len(items)} simulated annotations of {len(chains)} tasks "
        f"in project {project}; to look at them: scripts/start_label_studio.sh {data_dir}")
    return {"feedback_file": str(path), "records": len(items), "url": server.url}
