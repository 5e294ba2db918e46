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

from feedback_data.cli_errors import fail


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
        help="Checkpoint folder or hub id to serve /v1/* endpoints with.")] = None,
) -> None:
    """Serve Label Studio webhooks (secret from RHF_WEBHOOK_SECRET) and model endpoints
    (bearer token from RHF_API_TOKEN; required to bind a non-loopback address)."""
    from inference.api import TOKEN_ENV

    if not os.environ.get(TOKEN_ENV):
        if not is_loopback(host):
            fail(f"refusing to bind {host} without {TOKEN_ENV}: every model endpoint would be "
                  f"open to the network; set {TOKEN_ENV} or bind 127.0.0.1")
        typer.secho(f"warning: {TOKEN_ENV} is not set: the model endpoints accept any client "
                    f"that can reach {host}:{port}", fg=typer.colors.YELLOW, err=True)
    import uvicorn

    from feedback_data.write_lock import OutputLocked
    from inference.backends import ModelLoadError
    from pipeline.serve import create_app

    try:
        app = create_app(feedback_store=feedback_store,
                         webhook_secret=os.environ.get("RHF_WEBHOOK_SECRET"), model=model)
    except (ModelLoadError, OutputLocked) as exc:
        fail(str(exc))
    uvicorn.run(app, host=host, port=port, log_level="info")
