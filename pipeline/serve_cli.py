"""`rhf serve`: run the FastAPI app with uvicorn.

Without ``RHF_API_TOKEN`` the model endpoints accept any client: that is allowed on a loopback
address (with a warning) and refused on any other, before anything is loaded.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated

import typer

from feedback_data.errors import fail
from inference.batcher import BatchingConfig
from inference.run_options import Device, Dtype
from pipeline.http_guard import DEFAULT_MAX_BODY_BYTES


def is_loopback(host: str) -> bool:
    """'127.0.0.1', '::1', 'localhost' -> True; '0.0.0.0', '10.1.2.3', 'example.org' -> False."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False



def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    feedback_store: Annotated[Path | None, typer.Option(
        help="JSONL store that Label Studio webhooks append to (enables /webhook/label-studio).")]
    = None,
    model: Annotated[str | None, typer.Option(
        help="Multitask-trained checkpoint (folder, RUN_DIR or hub id): /v1/answer, "
             "/v1/critique, /v1/vote and the Label Studio ML backend (/setup, /predict).")]
    = None,
    refine_model: Annotated[str | None, typer.Option(
        help="Refine-trained checkpoint: /v1/refine.")] = None,
    base_model: Annotated[str | None, typer.Option(
        help="Base model: writes /v1/refine's first chain (k-shot CoT) when a request sends "
             "none.")] = None,
    critic_model: Annotated[str | None, typer.Option(
        help="A separate critic checkpoint (rhf train --objective critic): P(no error) in "
             "/v1/critique and the Label Studio ML backend's scores (its critic.json "
             "applied); default: --model's.")] = None,
    device: Device = "auto",
    dtype: Dtype = "auto",
    batching: Annotated[bool, typer.Option(
        help="Micro-batch concurrent requests (--no-batching: one call at a time behind a "
             "lock).")] = True,
    max_batch_wait_ms: Annotated[float, typer.Option(
        help="How long a batch's first request waits for others to join.")]
    = BatchingConfig.max_wait_ms,
    max_batch_rows: Annotated[int, typer.Option(help="Prompts per batched call at most.")]
    = BatchingConfig.max_rows,
    queue_size: Annotated[int, typer.Option(
        help="Calls waiting per model at most; beyond it a request gets 503 with "
             "Retry-After.")] = BatchingConfig.queue_size,
    task_path: Annotated[list[Path] | None, typer.Option(
        "--task-path", help="A task YAML file, or a folder of them, registered at start-up "
                            "(repeatable; the entries of $RHF_TASK_PATH are added). Requests "
                            "name tasks only: no request makes the server read a file.")]
    = None,
    max_body_bytes: Annotated[int, typer.Option(
        min=1, help="Largest request body on any route, in bytes; a larger one gets 413 as "
                    "soon as it passes this, without being read whole.")]
    = DEFAULT_MAX_BODY_BYTES,
) -> None:
    """Serve Label Studio webhooks (secret from RHF_WEBHOOK_SECRET) and model endpoints
    (bearer token from RHF_API_TOKEN; required to bind a non-loopback address). Each endpoint
    runs the model trained for it; one that is not served answers 409 naming its flag."""
    from inference.api import TOKEN_ENV

    if not os.environ.get(TOKEN_ENV):
        if not is_loopback(host):
            fail(f"refusing to bind {host} without {TOKEN_ENV}: every model endpoint would be "
                  f"open to the network; set {TOKEN_ENV} or bind 127.0.0.1")
        typer.secho(f"warning: {TOKEN_ENV} is not set: the model endpoints accept any client "
                    f"that can reach {host}:{port}", fg=typer.colors.YELLOW, err=True)
    import uvicorn

    from feedback_data.files.write_lock import OutputLocked
    from feedback_data.tasks.registry import TASK_PATH_ENV
    from feedback_data.tasks.spec import SpecError
    from inference.backends import ModelLoadError
    from inference.precision import PrecisionError
    from inference.run_options import check_precision
    from inference.sharding import SINGLE
    from pipeline.serve import create_app

    try:
        config = BatchingConfig(max_wait_ms=max_batch_wait_ms, max_rows=max_batch_rows,
                                queue_size=queue_size, enabled=batching)
    except ValueError as exc:
        fail(f"--max-batch-wait-ms, --max-batch-rows, --queue-size: {exc}")
    env_paths = [e for e in os.environ.get(TASK_PATH_ENV, "").split(os.pathsep) if e.strip()]
    try:
        if any(m is not None for m in (model, refine_model, base_model, critic_model)):
            check_precision(device, dtype, SINGLE)
        app = create_app(feedback_store=feedback_store,
                         webhook_secret=os.environ.get("RHF_WEBHOOK_SECRET"), model=model,
                         refine_model=refine_model, base_model=base_model,
                         critic_model=critic_model, dtype=dtype,
                         device=device, batching=config, max_body_bytes=max_body_bytes,
                         task_paths=[*(task_path or []), *env_paths])
    except (ModelLoadError, PrecisionError, OutputLocked, SpecError) as exc:
        fail(str(exc))
    uvicorn.run(app, host=host, port=port, log_level="info")
