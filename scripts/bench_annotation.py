"""Benchmark: push N tasks to and pull N annotations from a local Label Studio.

    .venv/bin/python scripts/bench_annotation.py [--n 10000] [--url URL]
    .venv/bin/python scripts/bench_annotation.py --webhook [--sizes 300,3000,10000]

Without --url a temporary Label Studio is started (cold start not timed). Prints the seconds
for push, export and conversion, and the conversion rate in records per second. The annotations
to pull are imported with their tasks (untimed set-up): the bot submits one per request.

--webhook needs no server: for stores of each size it times webhook deliveries through the
app (median of 50 new annotations), and the same appends after a whole-store re-read (the
duplicate check without the index), to show that the indexed store costs the same whatever its size.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from annotation.campaign import pull_feedback, push_chains, setup_project, simulator_ids
from annotation.client import LabelStudioClient
from annotation.convert import convert_export, simulator_email
from annotation.server import start_label_studio
from annotation.simulate import simulated_result
from annotation.tasks import build_tasks, paper_chains
from feedback_data.records.schema import make_chain_id


def synthetic_chains(n: int):
    """N distinct chains cycled from the imported paper chains (new ids, same content)."""
    base, examples = paper_chains("strategyqa", "train")
    out = []
    for i in range(n):
        c = base[i % len(base)]
        out.append(c.model_copy(update={"id": make_chain_id(c.example_id, c.model, "bench", i)}))
    return out, examples


def bench_webhook(sizes: list[int], deliveries: int = 50) -> None:
    """Median seconds per webhook delivery against stores of each size (index vs re-read)."""
    from fastapi.testclient import TestClient

    from annotation import labeling_config as lc
    from annotation.campaign import SECRET_HEADER
    from annotation.convert import feedback_from_annotation
    from annotation.webhook import WEBHOOK_PATH
    from feedback_data.records.jsonl import append_records, write_records
    from feedback_data.records.store import FeedbackStore
    from pipeline.serve import create_app

    os.environ.pop("LABEL_STUDIO_URL", None)
    chains, examples = synthetic_chains(1)
    data = build_tasks(chains, examples)[0]

    def body(ann_id: int) -> dict:
        return {"action": "ANNOTATION_CREATED", "task": {"id": 1, "project": 1, "data": data},
                "annotation": {"id": ann_id, "project": 1, "completed_by": 1, "lead_time": 3.0,
                               "updated_at": "2024-01-01T00:00:00Z", "result": [
                                   lc.result_item(lc.ERROR_TYPES, ["Factual Error"]),
                                   lc.result_item(lc.CORRECTION, chains[0].text)]}}

    print(f"{'store size':>10} {'open s':>8} {'indexed median s':>17} {'re-read median s':>17}")
    with tempfile.TemporaryDirectory(prefix="rhf-bench-webhook-") as tmp:
        for size in sizes:
            store = Path(tmp) / f"store-{size}.jsonl"
            write_records(store, (feedback_from_annotation(body(k)["annotation"],
                                                           body(k)["task"], {})
                                  for k in range(1, size + 1)))
            t0 = time.perf_counter()
            client = TestClient(create_app(feedback_store=store, webhook_secret="s"))
            open_s = time.perf_counter() - t0
            times = []
            for k in range(size + 1, size + deliveries + 1):
                t0 = time.perf_counter()
                res = client.post(WEBHOOK_PATH, json=body(k), headers={SECRET_HEADER: "s"})
                times.append(time.perf_counter() - t0)
                assert res.json()["stored"] == 1, res.text
            old = FeedbackStore(store)
            old_times = []

            def reread_append(item, old=old):
                if FeedbackStore.key(item) not in {FeedbackStore.key(i) for i in old.read()}:
                    append_records(old.path, [item])

            for k in range(size + deliveries + 1, size + deliveries + 6):
                b = body(k)
                t0 = time.perf_counter()
                reread_append(feedback_from_annotation(b["annotation"], b["task"], {}))
                old_times.append(time.perf_counter() - t0)
            print(f"{size:>10} {open_s:>8.2f} {statistics.median(times):>17.4f} "
                  f"{statistics.median(old_times):>17.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--url", default=None, help="Existing server (key: LABEL_STUDIO_API_KEY)")
    parser.add_argument("--webhook", action="store_true",
                        help="Time webhook deliveries against stores of --sizes records.")
    parser.add_argument("--sizes", default="300,3000,10000")
    args = parser.parse_args()
    if args.webhook:
        bench_webhook([int(s) for s in args.sizes.split(",")])
        return
    with ExitStack() as stack:
        if args.url:
            client = LabelStudioClient(args.url, os.environ.get("LABEL_STUDIO_API_KEY", ""))
        else:
            t0 = time.perf_counter()
            data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="rhf-bench-ls-"))
            server = stack.enter_context(start_label_studio(data_dir))
            print(f"label studio started in {time.perf_counter() - t0:.1f} s (not counted)")
            client = LabelStudioClient(server.url, server.token)
        stack.enter_context(client)
        chains, examples = synthetic_chains(args.n)
        tag = f"{time.time():.0f}"

        pid = setup_project(client, f"bench push {args.n} {tag}")
        t0 = time.perf_counter()
        report = push_chains(client, pid, chains, examples, batch_size=args.batch_size,
                             progress=False)
        push_s = time.perf_counter() - t0
        print(f"push: {report.sent} tasks in {push_s:.2f} s ({report.sent / push_s:,.0f} tasks/s)")

        # Set-up: tasks imported with one annotation each, by the bot user.
        pid2 = setup_project(client, f"bench pull {args.n} {tag}")
        bot = client.ensure_user(simulator_email(1))
        rng = random.Random(0)
        tasks = build_tasks(chains, examples)
        t0 = time.perf_counter()
        for start in range(0, len(tasks), args.batch_size):
            batch = [{"data": d, "annotations": [{"completed_by": bot, "result": simulated_result(
                examples[c.example_id], c, rng, 0.2)}]}
                for d, c in zip(tasks[start:start + args.batch_size],
                                chains[start:start + args.batch_size], strict=True)]
            client.request("POST", f"/api/projects/{pid2}/import", json=batch)
        print(f"set-up: {len(tasks)} annotated tasks imported in {time.perf_counter() - t0:.2f} s"
              " (not counted)")

        t0 = time.perf_counter()
        exported = client.export(pid2)
        export_s = time.perf_counter() - t0
        users = client.users()
        t0 = time.perf_counter()
        items = convert_export(exported, users, simulator_ids(users))
        convert_s = time.perf_counter() - t0
        print(f"export: {len(exported)} tasks in {export_s:.2f} s")
        print(f"convert: {len(items)} records in {convert_s:.2f} s "
              f"({len(items) / convert_s:,.0f} records/s)")
        t0 = time.perf_counter()
        pulled = pull_feedback(client, pid2)
        print(f"pull (export + convert): {len(pulled)} records in "
              f"{time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
