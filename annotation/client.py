"""A thin Label Studio REST client with one-line errors.

Plain httpx with ``Authorization: Token <key>``: a token preset through
``LABEL_STUDIO_USER_TOKEN`` is a legacy token (what label-studio-sdk 2.x also sends for a
non-JWT key), and plain calls keep every error ours to word. The key is never logged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

ENV_URL = "LABEL_STUDIO_URL"
ENV_KEY = "LABEL_STUDIO_API_KEY"
DEFAULT_URL = "http://127.0.0.1:8080"


class LabelStudioError(RuntimeError):
    """A failed call to Label Studio; the message is one line fit for a user."""


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.reason_phrase
    if isinstance(body, dict):
        detail = body.get("validation_errors") or body.get("detail") or body
        return " ".join(str(detail).split())[:300]
    return " ".join(str(body).split())[:300]


class LabelStudioClient:
    """The calls rhf makes: projects, tasks, export, users, annotations, webhooks."""

    def __init__(self, url: str, api_key: str, timeout: float = 120.0) -> None:
        if not api_key:
            raise LabelStudioError(f"no Label Studio API key: set {ENV_KEY}")
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout,
                                  headers={"Authorization": f"Token {api_key}"})

    @classmethod
    def from_env(cls, url: str | None = None) -> LabelStudioClient:
        """``url`` or $LABEL_STUDIO_URL (default 127.0.0.1:8080); key from $LABEL_STUDIO_API_KEY."""
        return cls(url or os.environ.get(ENV_URL) or DEFAULT_URL, os.environ.get(ENV_KEY, ""))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LabelStudioClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kw: Any) -> Any:
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.ConnectError as exc:
            raise LabelStudioError(f"cannot reach Label Studio at {self.url} (is it running?)") \
                from exc
        except httpx.HTTPError as exc:
            raise LabelStudioError(f"Label Studio at {self.url}: {type(exc).__name__}") from exc
        if resp.status_code in (401, 403):
            raise LabelStudioError(
                f"Label Studio at {self.url} refused the API key ({resp.status_code}): "
                f"check {ENV_KEY}")
        if resp.status_code >= 400:
            raise LabelStudioError(
                f"Label Studio {method} {path}: {resp.status_code} {_detail(resp)}")
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError as exc:
            raise LabelStudioError(
                f"Label Studio {method} {path}: not a JSON answer (is {self.url} Label Studio?)"
            ) from exc

    # --- users -----------------------------------------------------------------------------
    def whoami(self) -> dict[str, Any]:
        return self.request("GET", "/api/current-user/whoami")

    def users(self) -> dict[int, str]:
        """User id -> email (the annotator name in Feedback records)."""
        return {u["id"]: u.get("email") or u.get("username") or f"ls-user:{u['id']}"
                for u in self.request("GET", "/api/users/")}

    def ensure_user(self, email: str, first_name: str = "", last_name: str = "") -> int:
        """The id of the user with ``email``, created (without a password) when missing."""
        for uid, mail in self.users().items():
            if mail == email:
                return uid
        body = {"email": email, "username": email, "first_name": first_name,
                "last_name": last_name}
        return self.request("POST", "/api/users/", json=body)["id"]

    # --- projects --------------------------------------------------------------------------
    def projects(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.request("GET", "/api/projects/", params={"page": page, "page_size": 100})
            results = body["results"] if isinstance(body, dict) else body
            out += results
            if not isinstance(body, dict) or not body.get("next"):
                return out
            page += 1

    def find_project(self, title: str) -> dict[str, Any] | None:
        matches = [p for p in self.projects() if p.get("title") == title]
        return min(matches, key=lambda p: p["id"]) if matches else None

    def create_project(self, title: str, label_config: str, **extra: Any) -> dict[str, Any]:
        return self.request("POST", "/api/projects/",
                            json={"title": title, "label_config": label_config, **extra})

    def update_project(self, project_id: int, **fields: Any) -> dict[str, Any]:
        return self.request("PATCH", f"/api/projects/{project_id}/", json=fields)

    # --- tasks -----------------------------------------------------------------------------
    def iter_tasks(self, project_id: int, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every task of the project as ``{"id", "data"}``."""
        page = 1
        while True:
            try:
                body = self.request("GET", "/api/tasks/", params={
                    "project": project_id, "page": page, "page_size": page_size,
                    "include": "id,data"})
            except LabelStudioError as exc:
                if " 404 " in str(exc) and page > 1:  # past the last page
                    return
                raise
            tasks = body.get("tasks", [])
            yield from tasks
            if len(tasks) < page_size:
                return
            page += 1

    def import_tasks(self, project_id: int, tasks: Sequence[dict[str, Any]]) -> int:
        """Import task data (one batch); returns the number Label Studio created."""
        body = self.request("POST", f"/api/projects/{project_id}/import",
                            json=[{"data": t} for t in tasks])
        return int(body.get("task_count", 0))

    def export(self, project_id: int) -> list[dict[str, Any]]:
        """The full JSON export of every task that has annotations."""
        return self.request("GET", f"/api/projects/{project_id}/export",
                            params={"exportType": "JSON"})

    # --- annotations -----------------------------------------------------------------------
    def create_annotation(self, task_id: int, result: list[dict[str, Any]],
                          completed_by: int | None = None, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"result": result, **extra}
        if completed_by is not None:
            body["completed_by"] = completed_by
        return self.request("POST", f"/api/tasks/{task_id}/annotations/", json=body)

    def update_annotation(self, annotation_id: int, result: list[dict[str, Any]]
                          ) -> dict[str, Any]:
        return self.request("PATCH", f"/api/annotations/{annotation_id}/", json={"result": result})

    def next_task(self, project_id: int) -> dict[str, Any]:
        """The task Label Studio's sampling serves this user next."""
        return self.request("GET", f"/api/projects/{project_id}/next")

    # --- ML backends -----------------------------------------------------------------------
    def ml_backends(self, project_id: int) -> list[dict[str, Any]]:
        return self.request("GET", "/api/ml/", params={"project": project_id})

    def add_ml_backend(self, project_id: int, url: str, title: str) -> dict[str, Any]:
        """Connect the backend at ``url`` (Label Studio checks its /health and /setup)."""
        return self.request("POST", "/api/ml/", json={"project": project_id, "url": url,
                                                      "title": title, "is_interactive": False})

    def retrieve_predictions(self, project_id: int) -> dict[str, Any]:
        """Ask the project's ML backends to predict every task (Data Manager action)."""
        return self.request("POST", "/api/dm/actions",
                            params={"id": "retrieve_tasks_predictions", "project": project_id},
                            json={"selectedItems": {"all": True, "excluded": []}})

    def task(self, task_id: int) -> dict[str, Any]:
        return self.request("GET", f"/api/tasks/{task_id}/")

    # --- webhooks --------------------------------------------------------------------------
    def webhooks(self, project_id: int) -> list[dict[str, Any]]:
        return self.request("GET", "/api/webhooks/", params={"project": project_id})

    def ensure_webhook(self, project_id: int, url: str, headers: dict[str, str],
                       actions: Sequence[str]) -> dict[str, Any]:
        """Create the project's webhook to ``url``, or update the one already there."""
        body = {"project": project_id, "url": url, "send_payload": True,
                "send_for_all_actions": False, "actions": list(actions), "headers": headers,
                "is_active": True}
        for hook in self.webhooks(project_id):
            if hook.get("url") == url and hook.get("project") == project_id:
                return self.request("PATCH", f"/api/webhooks/{hook['id']}/", json=body)
        return self.request("POST", "/api/webhooks/", json=body)
