"""Benchmark: `rhf serve` under 32 concurrent /v1/critique clients, micro-batched against the
design before it (one generate call at a time behind a lock), in one run.

    nice -n 15 .venv/bin/python scripts/bench_serve.py [--model M] [--clients 32]
        [--requests 4] [--repeats 3] [--threads 1]

Each design is served by a real uvicorn server on a local port; every client is a thread with
its own HTTP connection that posts its critiques one after another (a closed loop), each a
different (question, chain) of the paper's calibration records. The two designs alternate
``--repeats`` times (A/B/A/B...) and the ratio is of the median throughputs (requests per
second), so load from other jobs on a shared machine falls on both; the server's CPU time
per request is printed too. Default model: the shipped tiny base (models/tiny-base).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def serve(app, port: int):
    """A uvicorn server for ``app`` in a thread; returns it once it accepts connections."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    return server, thread


def load(url: str, bodies: list[dict], clients: int, requests: int) -> float:
    """Requests per second of ``clients`` closed-loop clients, ``requests`` each."""
    import httpx

    gate = threading.Barrier(clients + 1)
    failures: list[str] = []

    def client(c: int) -> None:
        with httpx.Client(base_url=url, timeout=600) as http:
            gate.wait()
            for r in range(requests):
                resp = http.post("/v1/critique", json=bodies[(c * requests + r) % len(bodies)])
                if resp.status_code != 200:
                    failures.append(f"{resp.status_code} {resp.text[:200]}")

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    gate.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, first: {failures[0]}")
    return clients * requests / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "tiny-base"))
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=4, help="critiques per client")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--max-rows", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()

    import torch

    from annotation.server import free_port
    from feedback_data.sources.splits import calibration_items
    from inference.backends import Backend
    from inference.batcher import BatchingConfig
    from pipeline.serve import create_app

    torch.set_num_threads(args.threads)
    backend = Backend.load(args.model)
    bodies = [{"task": "strategyqa", "question": i.example.question, "chain": i.chain.text,
               "max_new_tokens": args.max_new_tokens} for i in calibration_items()]
    designs = {
        "lock per request": BatchingConfig(enabled=False),
        "micro-batched": BatchingConfig(max_wait_ms=args.max_wait_ms, max_rows=args.max_rows,
                                        queue_size=max(256, args.clients * 2)),
    }
    servers = {}
    for name, config in designs.items():
        app = create_app(model=backend, batching=config)
        port = free_port()
        servers[name] = (app, f"http://127.0.0.1:{port}", *serve(app, port))
    print(f"model {args.model} ({backend.dtype} on {backend.info['device']}), {args.clients} "
          f"clients x {args.requests} critiques, max_new_tokens {args.max_new_tokens}, torch "
          f"threads {torch.get_num_threads()}, batching window {args.max_wait_ms} ms, "
          f"<= {args.max_rows} prompts per call")
    throughput: dict[str, list[float]] = {name: [] for name in designs}
    cpu: dict[str, list[float]] = {name: [] for name in designs}
    load(servers["micro-batched"][1], bodies[:8], 4, 1)  # warm-up, not timed
    servers["micro-batched"][0].state.models.get("multitask").model.batcher.calls.clear()
    for _ in range(args.repeats):
        for name in designs:
            c0 = time.process_time()
            throughput[name].append(load(servers[name][1], bodies, args.clients, args.requests))
            cpu[name].append((time.process_time() - c0) / (args.clients * args.requests))
    for name in designs:
        print(f"{name:>17}: {statistics.median(throughput[name]):.2f} requests/s (per repeat "
              + ", ".join(f"{x:.2f}" for x in throughput[name])
              + f"), {1000 * statistics.median(cpu[name]):.0f} ms CPU per request (server and "
              "clients: one process)")
    batched = servers["micro-batched"][0].state.models.get("multitask").model.batcher.calls
    print(f"micro-batched: {len(batched)} generate calls, {statistics.mean(batched):.1f} "
          f"requests per call on average (largest {max(batched)})")
    ratio = statistics.median(throughput["micro-batched"]) / statistics.median(
        throughput["lock per request"])
    print(f"throughput ratio, micro-batched / lock per request: {ratio:.2f}x")
    for _app, _url, server, thread in servers.values():
        server.should_exit = True
        thread.join(timeout=10)


if __name__ == "__main__":
    main()
