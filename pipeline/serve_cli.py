"""`rhf serve`: run the FastAPI app with uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    feedback_store: Annotated[Path | None, typer.Option(
        help="JSONL store that Label Studio webhooks append to (enables /webhook/label-studio).")]
    = None,
    model: Annotated[str | None, typer.Option(
        help="Checkpoint folder or hub id to serve /v1/* endpoints with.")] = None,
) -> None:
    """Serve Label Studio webhooks (secret from RHF_WEBHOOK_SECRET) and model endpoints."""
    import uvicorn

    from pipeline.serve import create_app

    app = create_app(feedback_store=feedback_store,
                     webhook_secret=os.environ.get("RHF_WEBHOOK_SECRET"), model=model)
    uvicorn.run(app, host=host, port=port, log_level="info")
