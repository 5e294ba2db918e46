"""Label Studio webhook receiver: every created or updated annotation lands in the feedback store.

Each delivery is appended idempotently (keyed on annotation id and update time) and fsynced
before the answer, so a crash after Label Studio hears 200 loses nothing. Only requests that
carry the shared secret header are accepted; with no secret configured every request is refused.
Annotator ids are named through the Label Studio API when $LABEL_STUDIO_URL and
$LABEL_STUDIO_API_KEY are set, else recorded as ``ls-user:<id>``.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from annotation.campaign import SECRET_HEADER, WEBHOOK_ACTIONS, simulator_ids
from annotation.client import ENV_KEY, ENV_URL, LabelStudioClient, LabelStudioError
from annotation.convert import feedback_from_annotation
from feedback_data.jsonl import DataError
from feedback_data.store import FeedbackStore

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/webhook/label-studio"


class UserDirectory:
    """User id -> email from Label Studio, fetched lazily and refreshed on an unknown id."""

    def __init__(self, fetch: Callable[[], dict[int, str]] | None) -> None:
        self._fetch = fetch
        self.users: dict[int, str] = {}

    @classmethod
    def from_env(cls) -> UserDirectory:
        url, key = os.environ.get(ENV_URL), os.environ.get(ENV_KEY)
        if not (url and key):
            return cls(None)

        def fetch() -> dict[int, str]:
            with LabelStudioClient(url, key, timeout=10) as client:
                return client.users()

        return cls(fetch)

    def lookup(self, user: Any) -> dict[int, str]:
        if self._fetch is not None and isinstance(user, int) and user not in self.users:
            try:
                self.users = self._fetch()
            except LabelStudioError as exc:
                log.warning("cannot name annotators: %s", exc)
        return self.users


def make_webhook_router(store_path: Path, secret: str | None,
                        users: UserDirectory | None = None) -> APIRouter:
    """``POST /webhook/label-studio`` appending ANNOTATION_CREATED/UPDATED to ``store_path``."""
    store = FeedbackStore(store_path)
    directory = users or UserDirectory.from_env()
    lock = threading.Lock()
    router = APIRouter()
    if not secret:
        log.warning("no webhook secret configured (RHF_WEBHOOK_SECRET): refusing all deliveries")

    @router.post(WEBHOOK_PATH)
    async def receive(request: Request) -> dict[str, Any]:
        given = request.headers.get(SECRET_HEADER, "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            raise HTTPException(status_code=403, detail="missing or wrong webhook secret")
        try:
            body = await request.json()
        except ValueError as exc:
            raise HTTPException(status_code=400, detail="body is not JSON") from exc
        if not isinstance(body, dict):
            raise HTTPException(status_code=400, detail="body is not a JSON object")
        action = body.get("action")
        if action not in WEBHOOK_ACTIONS:
            return {"stored": 0, "ignored": f"action {action!r}"}
        annotation, task = body.get("annotation"), body.get("task")
        if not isinstance(annotation, dict) or not isinstance(task, dict):
            raise HTTPException(status_code=422, detail="payload lacks 'annotation' or 'task'")
        if annotation.get("was_cancelled"):
            return {"stored": 0, "ignored": "cancelled annotation"}
        user_map = directory.lookup(annotation.get("completed_by"))
        try:
            item = feedback_from_annotation(annotation, task, user_map, simulator_ids(user_map))
        except DataError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        with lock:
            stored = store.append([item])
        return {"stored": stored, "id": item.feedback.id, "duplicate": stored == 0}

    return router
