"""The service's front door: authenticate before reading a body, cap every body while it
streams, and answer every error as short JSON.

`rhf serve` wraps its whole app in :class:`BodyGuard` (an ASGI middleware) so that a request
to a protected route without the token gets 401 before a byte of its body is read, and a
body over the cap gets 413 as soon as it passes the cap (a Content-Length over it: at once),
never read into memory whole. :func:`install_error_replies` makes a validation error quote
at most :data:`SHOWN_CHARS` characters of the offending input (and say NaN or Infinity as
text, which JSON cannot carry), and any unforeseen error a JSON 500, never plain text.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1 << 20
SHOWN_CHARS = 80  # of an offending input, at most this much is quoted back
MAX_DETAIL_CHARS = 400  # a route's own error message, which may quote the input, at most

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def shown(value: Any) -> Any:
    """``value`` as an error reply may quote it: short strings and finite numbers as they
    are, NaN and infinities as text, anything longer cut to SHOWN_CHARS characters."""
    if isinstance(value, bool) or value is None or isinstance(value, int) and abs(value) < 1e15:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value).replace("inf", "Infinity").replace(
            "nan", "NaN")
    text = value if isinstance(value, str) else json.dumps(value, default=repr, allow_nan=True)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def lone_surrogate_at(body: bytes) -> list[str | int] | None:
    """Where a JSON body holds a lone surrogate (text no UTF-8 reply can carry), as a
    location ['body', 'question']; None when it holds none, or is not JSON (the route says)."""
    if not _SURROGATE_ESCAPE.search(body):
        return None
    try:
        stack: list[tuple[Any, list[str | int]]] = [(json.loads(body), ["body"])]
    except (ValueError, RecursionError):
        return None
    while stack:
        node, loc = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if _unencodable(key):
                    return loc
                stack.append((value, [*loc, key]))
        elif isinstance(node, list):
            stack.extend((v, [*loc, i]) for i, v in enumerate(node))
        elif isinstance(node, str) and _unencodable(node):
            return loc
    return None


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _json_reply(status: int, detail: Any, headers: dict[str, str] | None = None
                ) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class BodyGuard:
    """ASGI middleware: 401 before the body on ``protected`` paths when ``authorized`` says
    no; 413 for a body over ``max_body_bytes``, checked chunk by chunk as it arrives; on
    ``protected`` paths, 422 naming the field for text holding a lone surrogate."""

    def __init__(self, app: Any, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 protected: Callable[[str], bool] = lambda _path: False,
                 authorized: Callable[[str | None], bool] = lambda _header: True,
                 auth_message: str = "missing or wrong bearer token") -> None:
        if max_body_bytes < 1:
            raise ValueError(f"the body cap must be at least 1 byte, got {max_body_bytes}")
        self.app, self.max_body_bytes = app, max_body_bytes
        self.protected, self.authorized, self.auth_message = protected, authorized, auth_message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if self.protected(scope.get("path", "")) and not self.authorized(
                headers.get("authorization")):
            await _json_reply(401, self.auth_message, {"WWW-Authenticate": "Bearer"})(
                scope, receive, send)
            return
        too_big = _json_reply(413, f"body over {self.max_body_bytes} bytes (the server's "
                                   f"--max-body-bytes)")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await too_big(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await too_big(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False
        if self.protected(scope.get("path", "")):
            loc = lone_surrogate_at(body)
            if loc is not None:
                await _json_reply(422, [{
                    "loc": loc, "type": "unicode",
                    "msg": "text that is not valid Unicode (a lone surrogate)"}])(
                    scope, receive, send)
                return

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _short_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors with the input cut short (and no context objects, which can hold
    the input again)."""
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))[:300],
             "type": e.get("type", ""), "input": shown(e.get("input"))} for e in errors]


def install_error_replies(app: FastAPI) -> None:
    """422 replies that quote little (a route's own message cut at MAX_DETAIL_CHARS), and a
    JSON 500 for any error a route did not foresee."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _json_reply(422, _short_errors(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if isinstance(detail, str) and len(detail) > MAX_DETAIL_CHARS:
            detail = detail[:MAX_DETAIL_CHARS] + "..."
        return _json_reply(exc.status_code, detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unforeseen(request: Request, exc: Exception) -> JSONResponse:
        log.error("unforeseen error on %s: %s: %s", request.url.path, type(exc).__name__,
                  str(exc)[:SHOWN_CHARS])
        return _json_reply(500, "internal error (logged on the server)")


def guard(app: FastAPI, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
          protected: Callable[[str], bool] = lambda _path: False,
          authorized: Callable[[str | None], bool] = lambda _header: True,
          auth_message: str = "missing or wrong bearer token") -> FastAPI:
    """``app`` with short error replies, its body cap and its auth-first check."""
    install_error_replies(app)
    app.add_middleware(BodyGuard, max_body_bytes=max_body_bytes, protected=protected,
                       authorized=authorized, auth_message=auth_message)
    return app
