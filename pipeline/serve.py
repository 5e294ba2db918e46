"""`rhf serve`'s composition: Label Studio webhook capture (annotation) and, with models, their
endpoints (inference) in one FastAPI app."""

from __future__ import annotations

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
) -> FastAPI:
    """Build the app. ``feedback_store`` enables the webhook receiver; ``model`` (multitask),
    ``refine_model``, ``base_model`` and ``critic_model`` (a separate critic: P(no error) in
    /v1/critique and the ML backend) the endpoints each serves (inference.served_models),
    loaded on ``device`` in ``dtype`` and micro-batched as ``batching``
    (inference.batcher.BatchingConfig) says."""
    app = FastAPI(title="rhf", description="Rich-feedback reasoning: webhooks and model API.")
    if feedback_store is not None:
        from annotation.webhook import make_webhook_router

        app.include_router(make_webhook_router(Path(feedback_store), webhook_secret))
    served: dict[str, Any] = {}
    if any(m is not None for m in (model, refine_model, base_model, critic_model)):
        from inference.api import make_model_router
        from inference.served_models import ServedModels

        models = ServedModels.load(model, refine_model, base_model, dtype=dtype, device=device,
                                   batching=batching, critic=critic_model)
        app.include_router(make_model_router(models))
        app.state.models = models
        served = models.describe()
        batching_info = vars(models.batching)
    else:
        batching_info = None

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness, and each served model's spec, version, dtype and device."""
        return {"status": "ok", "models": served, "batching": batching_info}

    return app
