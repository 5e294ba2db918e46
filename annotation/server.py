"""Start a local Label Studio for tests, scripts and the demo (one process, one data folder).

Label Studio reads its settings from the environment, including bare names such as ``PORT``
or ``USERNAME``, and moves silently to the next port when its port is busy. So the child gets
a scrubbed environment, a fresh random token, and is only trusted once that token works on the
port we asked for.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

DEFAULT_USERNAME = "admin@rhf.local"
# Bare names Label Studio also reads; inherited values would change what we start.
_SCRUBBED = ("PORT", "HOST", "USERNAME", "PASSWORD", "USER_TOKEN", "DJANGO_DB", "DEBUG",
             "LOG_LEVEL", "INTERNAL_HOST", "DATA_DIR")


class LabelStudioStartError(RuntimeError):
    """Label Studio could not be started; the message says why and where its log is."""


def find_label_studio_bin() -> Path:
    """``LABEL_STUDIO_BIN``, else ``<repo>/.venv-ls/bin/label-studio``, else one on PATH."""
    env = os.environ.get("LABEL_STUDIO_BIN")
    if env:
        return Path(env)
    local = Path(__file__).resolve().parent.parent / ".venv-ls" / "bin" / "label-studio"
    if local.exists():
        return local
    found = shutil.which("label-studio")
    return Path(found) if found else local


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def label_studio_env(data_dir: Path, username: str, password: str, token: str,
                     base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a local Label Studio needs: preset legacy token, no signup, no calls home."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k not in _SCRUBBED and not k.startswith("LABEL_STUDIO_")}
    env.update({
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_USERNAME": username,
        "LABEL_STUDIO_PASSWORD": password,
        "LABEL_STUDIO_USER_TOKEN": token,
        # Applies only when the organisation is first created; later starts keep the old one.
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
        # Webhooks to 127.0.0.1 (rhf serve) are refused otherwise.
        "SSRF_PROTECTION_ENABLED": "false",
        # So is an ML backend on 127.0.0.1 (rhf serve --model).
        "ML_BLOCK_LOCAL_IP": "false",
    })
    return env


@dataclass
class LabelStudioServer:
    """A running local Label Studio: its URL, admin login and API token."""

    url: str
    token: str
    username: str
    password: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server (its whole process group) and wait for it."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)

    def __enter__(self) -> LabelStudioServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _token_works(url: str, token: str) -> bool:
    try:
        resp = httpx.get(f"{url}/api/current-user/whoami",
                         headers={"Authorization": f"Token {token}"}, timeout=5)
    except httpx.HTTPError:
        return False
    return resp.status_code == 200


def _log_tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def start_label_studio(
    data_dir: str | Path,
    port: int | None = None,
    *,
    username: str = DEFAULT_USERNAME,
    password: str | None = None,
    token: str | None = None,
    binary: str | Path | None = None,
    timeout: float = 180.0,
) -> LabelStudioServer:
    """Start ``label-studio`` on 127.0.0.1 with its data in ``data_dir``; wait until it answers.

    A new data folder gets an admin user with a legacy API token (``token``, random when not
    given). Reusing a folder needs the token it was made with.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    binary = Path(binary) if binary else find_label_studio_bin()
    if not binary.exists():
        raise LabelStudioStartError(
            f"label-studio not found at {binary}: run `make label-studio` or set LABEL_STUDIO_BIN")
    port = port or free_port()
    password = password or secrets.token_urlsafe(12)
    token = token or secrets.token_hex(20)
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir / "label-studio.log"
    env = label_studio_env(data_dir, username, password, token)
    cmd = [str(binary), "start", "--no-browser", "--internal-host", "127.0.0.1",
           "-p", str(port), "--log-level", "WARNING"]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = LabelStudioServer(url, token, username, password, data_dir, log_path, proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabelStudioStartError(
                f"label-studio exited with code {proc.returncode}; log {log_path}:\n"
                + _log_tail(log_path))
        if _token_works(url, token):
            return server
        time.sleep(0.5)
    server.stop()
    raise LabelStudioStartError(
        f"label-studio did not answer on {url} within {timeout:.0f} s (is the port busy? a reused "
        f"data folder needs its original token); log {log_path}:\n" + _log_tail(log_path))


def credentials(data_dir: Path) -> tuple[str, str, bool]:
    """(token, password, made): from the environment, else from (or new in) DATA_DIR/credentials."""
    token = os.environ.get("LABEL_STUDIO_API_KEY")
    password = os.environ.get("LABEL_STUDIO_PASSWORD")
    if token and password:
        return token, password, False
    path = data_dir / "credentials"
    if path.exists():
        saved = dict(line.split("=", 1) for line in path.read_text().split())
        return (token or saved["LABEL_STUDIO_API_KEY"],
                password or saved["LABEL_STUDIO_PASSWORD"], False)
    token, password = token or secrets.token_hex(20), password or secrets.token_urlsafe(12)
    data_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(f"LABEL_STUDIO_API_KEY={token}\nLABEL_STUDIO_PASSWORD={password}\n")
    return token, password, True


def main(argv: list[str] | None = None) -> int:
    """``python -m annotation.server DATA_DIR [PORT]``: run until interrupted (for scripts/)."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m annotation.server DATA_DIR [PORT]", file=sys.stderr)
        return 2
    data_dir = Path(args[0])
    token, password, made = credentials(data_dir)
    username = os.environ.get("LABEL_STUDIO_USERNAME", DEFAULT_USERNAME)
    try:
        server = start_label_studio(data_dir, int(args[1]) if len(args) > 1 else None,
                                    username=username, token=token, password=password)
    except LabelStudioStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Label Studio at {server.url} (user {server.username}; data {server.data_dir})")
    if made:
        print(f"token and password written to {data_dir / 'credentials'} (mode 600)")
    print(f"export LABEL_STUDIO_URL={server.url}")
    # A terminated script must take its server down too (it runs in its own session).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
