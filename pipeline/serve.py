"""`rhf serve`'s composition: Label Studio webhook capture (annotation) and, with models, their
endpoints (inference) in one FastAPI app, behind one front door (pipeline.http_guard): the
token checked before any body is read, one body cap for every route, short JSON errors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI


def create_app(
    feedback_store: Path | None = None,
    webhook_secret: str | None = None,
    model: str | Any = None,
    refine_model: str | Any = None,
    base_model: str | Any = None,
    *,
    critic_model: str | Any = None,
    dtype: str = "auto",
    device: str = "auto",
    batching: Any = None,
    max_body_bytes: int | None = None,
    task_paths: Sequence[str | Path] = (),
) -> FastAPI:
    """Build the app. ``feedback_store`` enables the webhook receiver; ``model`` (multitask),
    ``refine_model``, ``base_model`` and ``critic_model`` (a separate critic: P(no error) in
    /v1/critique and the ML backend) the endpoints each serves (inference.served_models),
    loaded on ``device`` in ``dtype`` and micro-batched as ``batching``
    (inference.batcher.BatchingConfig) says. Every body is capped at ``max_body_bytes``
    (default 1 MiB); the task files of ``task_paths`` are registered first, the only way a
    task spec is read from disk while serving (a SpecError names the bad file)."""
    from feedback_data.tasks.registry import load_task_paths
    from inference.api import AUTH_MESSAGE, token_ok
    from pipeline.http_guard import DEFAULT_MAX_BODY_BYTES, guard

    cap = DEFAULT_MAX_BODY_BYTES if max_body_bytes is None else max_body_bytes
    load_task_paths(tuple(task_paths))
    app = FastAPI(title="rhf", description="Rich-feedback reasoning: webhooks and model API.")
    protected: set[str] = set()
    if feedback_store is not None:
        from annotation.webhook import make_webhook_router

        app.include_router(make_webhook_router(Path(feedback_store), webhook_secret,
                                               max_body_bytes=cap))
    served: dict[str, Any] = {}
    if any(m is not None for m in (model, refine_model, base_model, critic_model)):
        from inference.api import make_model_router
        from inference.served_models import ServedModels

        models = ServedModels.load(model, refine_model, base_model, dtype=dtype, device=device,
                                   batching=batching, critic=critic_model)
        router = make_model_router(models)
        protected = {route.path for route in router.routes}
        app.include_router(router)
        app.state.models = models
        served = models.describe()
        batching_info = vars(models.batching)
    else:
        batching_info = None

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness, and each served model's spec, version, dtype and device."""
        return {"status": "ok", "models": served, "batching": batching_info}

    return guard(app, cap, protected=protected.__contains__, authorized=token_ok,
                 auth_message=AUTH_MESSAGE)
