"""Label Studio webhook receiver: every created or updated annotation lands in the feedback store.

Each delivery is appended idempotently (keyed on annotation id and update time, checked against
an in-memory index) and fsynced before the answer, so a crash after Label Studio hears 200
loses nothing. A store damaged by a crash is repaired on start (feedback_data.records.store).
Bad deliveries get a 4xx, never a 500: a body over the size limit 413; not JSON, or nested
too deeply, 400; wrong types (an annotation id that is not a positive integer, a list for
``completed_by``, text that is not valid Unicode) 422. Only requests that
carry the shared secret header are accepted; with no secret configured every request is refused.
Annotator ids are named through the Label Studio API when $LABEL_STUDIO_URL and
$LABEL_STUDIO_API_KEY are set, else recorded as ``ls-user:<id>``.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from annotation.campaign import SECRET_HEADER, WEBHOOK_ACTIONS, simulator_ids
from annotation.client import ENV_KEY, ENV_URL, LabelStudioClient, LabelStudioError
from annotation.convert import EmptyAnnotation, feedback_from_annotation, positive_id
from feedback_data.errors import DataError
from feedback_data.files.disk_full import is_disk_full
from feedback_data.records.store import FeedbackStore

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/webhook/label-studio"
MAX_BODY_BYTES = 1 << 20  # a real delivery (task data + annotation) is a few tens of KB
MAX_DEPTH = 32  # Label Studio's payloads nest about 8 levels deep


def _too_deep(obj: object, limit: int = MAX_DEPTH) -> bool:
    """True when ``obj`` nests deeper than ``limit`` (checked without recursion)."""
    stack = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return False


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(raw: bytes) -> dict[str, Any]:
    """The delivery as a JSON object; HTTPException 400/422 for anything else."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise HTTPException(400, "body is not JSON (or nested too deeply)") from exc
    if not isinstance(body, dict):
        raise HTTPException(400, "body is not a JSON object")
    if _too_deep(body):
        raise HTTPException(422, f"body nests deeper than {MAX_DEPTH} levels")
    try:
        json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise HTTPException(422, "body holds text that is not valid Unicode (a lone "
                                 "surrogate)") from exc
    except ValueError as exc:  # NaN or Infinity
        raise HTTPException(422, "body holds NaN or Infinity, which JSON cannot carry") from exc
    return body


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
                        users: UserDirectory | None = None,
                        max_body_bytes: int = MAX_BODY_BYTES) -> APIRouter:
    """``POST /webhook/label-studio`` appending ANNOTATION_CREATED/UPDATED to ``store_path``."""
    store = FeedbackStore.open_for_writing(
        store_path, "stop that rhf serve, or give this one another --feedback-store")
    directory = users or UserDirectory.from_env()
    router = APIRouter()
    if not secret:
        log.warning("no webhook secret configured (RHF_WEBHOOK_SECRET): refusing all deliveries")

    @router.post(WEBHOOK_PATH)
    async def receive(request: Request) -> dict[str, Any]:
        given = request.headers.get(SECRET_HEADER, "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            raise HTTPException(status_code=403, detail="missing or wrong webhook secret")
        body = parse_body(await _read_body(request, max_body_bytes))
        action = body.get("action")
        if action not in WEBHOOK_ACTIONS:
            return {"stored": 0, "ignored": f"action {action!r}"}
        annotation, task = body.get("annotation"), body.get("task")
        if not isinstance(annotation, dict) or not isinstance(task, dict):
            raise HTTPException(status_code=422, detail="payload lacks 'annotation' or 'task'")
        try:
            positive_id(annotation.get("id"), "annotation id")
        except DataError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        if annotation.get("was_cancelled"):
            return {"stored": 0, "ignored": "cancelled annotation"}
        user_map = directory.lookup(annotation.get("completed_by"))
        try:
            item = feedback_from_annotation(annotation, task, user_map, simulator_ids(user_map))
        except EmptyAnnotation:
            return {"stored": 0, "ignored": "empty result"}
        except DataError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:
            # A shape the converter does not check yet: still the sender's fault, never a 500.
            log.exception("webhook: malformed delivery")
            raise HTTPException(status_code=422, detail=f"malformed payload "
                                                        f"({type(exc).__name__})") from exc
        try:
            stored = store.append(item)
        except OSError as exc:
            if not is_disk_full(exc, store.path.parent):
                raise
            # Label Studio keeps the annotation and can send it again; nothing was stored.
            log.error("feedback store %s: disk full; annotation %s not stored",
                      store.path, annotation.get("id"))
            raise HTTPException(status_code=507, detail=f"disk full at {store.path.parent}: "
                                f"the annotation was not stored") from None
        return {"stored": int(stored), "id": item.feedback.id, "duplicate": not stored}

    return router
