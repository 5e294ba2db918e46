"""`rhf serve`'s composition: Label Studio webhook capture (annotation) and, with a model, its
endpoints (inference) in one FastAPI app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI


def create_app(
    feedback_store: Path | None = None,
    webhook_secret: str | None = None,
    model: str | None = None,
) -> FastAPI:
    """Build the app. ``feedback_store`` enables the webhook receiver; ``model`` the endpoints."""
    app = FastAPI(title="rhf", description="Rich-feedback reasoning: webhooks and model API.")
    if feedback_store is not None:
        from annotation.webhook import make_webhook_router

        app.include_router(make_webhook_router(Path(feedback_store), webhook_secret))
    if model is not None:
        from inference.api import make_model_router

        app.include_router(make_model_router(model))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
