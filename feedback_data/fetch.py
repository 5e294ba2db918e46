"""Download the datasets once: BIG-bench's task files and the paper's released feedback.

BIG-bench comes from the ``bigbench==1.0.0`` source distribution on PyPI (the sdist file
from the index pip uses, else ``pip download --no-deps --no-binary :all:``), checked against
a pinned sha256; only the three task files of the built-in tasks are extracted, the checked
sdist is kept in the cache (any other task is extracted from it by name when a task spec asks
for it, feedback_data.tasks.loaders) and the package is never imported.
The feedback comes from ``RHF_FEEDBACK_SOURCE``: a local folder or the paper's repository
URL (the default).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tqdm.auto import tqdm

from feedback_data import paths
from feedback_data.jsonl import replace_folder

BIGBENCH_SPEC = "bigbench==1.0.0"
BIGBENCH_SDIST = "bigbench-1.0.0.tar.gz"
BIGBENCH_SHA256 = "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2"
_BIGBENCH_PREFIX = "bigbench-1.0.0/bigbench/benchmark_tasks/"

FEEDBACK_REPO_URL = "https://github.com/joshinh/rich-feedback-reasoning"
FEEDBACK_COMMIT = "bc2a58cd05c9e869804f1f4aeac3aef8063186fc"
FEEDBACK_SHA256 = {
    "strategyqa/train.jsonl": "b35cbbc27c4a78c8f98fb1b0037f47103120aff996a4a12ad605d4a6dd2af48e",
    "strategyqa/eval.jsonl": "d0fa8a4c8252901faae4e6d16353ecd12679dc28078ab4bd546545bd48117140",
    "sports_understanding/train.jsonl": (
        "a1abbc1e6f8d6a607d4aa91eed4728c339bcc2527b08035451b16d4de90b33ef"
    ),
}


class FetchError(RuntimeError):
    """A download or source that cannot be used; the message says what was looked for."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pip_download(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--quiet", "-d", str(dest), BIGBENCH_SPEC]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    sdist = dest / BIGBENCH_SDIST
    if proc.returncode != 0 or not sdist.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise FetchError(f"pip could not download {BIGBENCH_SPEC}: {tail[0]}")
    return sdist


def _index_url() -> str:
    return (os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple").rstrip("/")


def _index_download(dest: Path, log: Callable[[str], None]) -> Path:
    """Download the sdist file from the package index's simple API (PEP 691 JSON).

    pip >= 26 refuses ``pip download bigbench==1.0.0`` even with ``--no-deps``, because
    preparing the sdist's metadata reveals a direct-URL dependency (bleurt); the file itself
    is fine, so it is taken straight from the index pip uses and checked the same way.
    """
    url = f"{_index_url()}/bigbench/"
    accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    request = urllib.request.Request(url, headers=accept)
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            files = json.load(resp).get("files", [])
    except (OSError, ValueError) as exc:
        raise FetchError(f"cannot read the package index at {url}: {exc}") from exc
    entry = next((f for f in files if f.get("filename") == BIGBENCH_SDIST), None)
    if entry is None:
        raise FetchError(f"{BIGBENCH_SDIST} is not listed at {url}")
    sdist = dest / BIGBENCH_SDIST
    size = int(entry.get("size") or 0)
    try:
        with urllib.request.urlopen(entry["url"], timeout=120) as resp, sdist.open("wb") as fh:
            with tqdm(total=size or None, unit="B", unit_scale=True, desc=BIGBENCH_SDIST) as bar:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    fh.write(block)
                    bar.update(len(block))
    except OSError as exc:
        raise FetchError(f"cannot download {entry['url']}: {exc}") from exc
    return sdist


def fetch_bigbench(
    force: bool = False,
    sdist: Path | None = None,
    expected_sha256: str = BIGBENCH_SHA256,
    log: Callable[[str], None] = print,
) -> Path:
    """Make sure the BIG-bench task files are in the cache and return their folder.

    ``sdist`` (or ``RHF_BIGBENCH_SDIST``) uses a local copy of the tarball instead of pip.
    A sha256 mismatch raises and leaves the cache as it was.
    """
    target = paths.bigbench_dir()
    kept = paths.bigbench_sdist()
    have_files = all((target / f).exists() for f in paths.BIGBENCH_TASK_FILES)
    if not force and have_files and kept.is_file():
        log(f"BIG-bench task files already in {target}")
        return target
    if sdist is None and os.environ.get("RHF_BIGBENCH_SDIST"):
        sdist = Path(os.environ["RHF_BIGBENCH_SDIST"])
    if not force and have_files:
        # A cache filled before the sdist was kept: the built-in tasks work without it, so
        # a failed download is a warning here, not an error.
        try:
            _keep_sdist(sdist, expected_sha256, log)
        except FetchError as exc:
            log(f"warning: {exc}; the built-in tasks do not need it, other BIG-bench tasks do")
        log(f"BIG-bench task files already in {target}")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        tmp_path = Path(tmp)
        sdist = _checked_sdist(sdist, tmp_path, expected_sha256, log)
        staged = tmp_path / "extracted"
        wanted = {_BIGBENCH_PREFIX + f: f for f in paths.BIGBENCH_TASK_FILES}
        with tarfile.open(sdist, "r:gz") as tar:
            for member in tar:
                rel = wanted.get(member.name)
                if rel is None or not member.isfile():
                    continue
                out = staged / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                assert src is not None
                with src, out.open("wb") as fh:
                    shutil.copyfileobj(src, fh)
        missing = [f for f in paths.BIGBENCH_TASK_FILES if not (staged / f).exists()]
        if missing:
            raise FetchError(f"{sdist.name} lacks {', '.join(missing)}; the cache was not changed")
        _store_sdist(sdist, tmp_path)
        replace_folder(staged, target)
    log(f"BIG-bench task files in {target}")
    return target


def _checked_sdist(sdist: Path | None, tmp_path: Path, expected_sha256: str,
                   log: Callable[[str], None]) -> Path:
    """The sdist (downloaded into ``tmp_path`` when not given), its sha256 checked."""
    if sdist is None:
        log(f"downloading the {BIGBENCH_SPEC} source distribution (about 360 MB) ...")
        try:
            sdist = _index_download(tmp_path, log)
        except FetchError as exc:
            log(f"{exc}; trying pip download")
            sdist = _pip_download(tmp_path)
    elif not sdist.is_file():
        raise FetchError(f"BIG-bench source distribution not found: {sdist}")
    actual = sha256_file(sdist)
    if actual != expected_sha256:
        raise FetchError(
            f"sha256 mismatch for {sdist.name}: expected {expected_sha256}, got {actual}; "
            "the cache was not changed"
        )
    return sdist


def _store_sdist(sdist: Path, tmp_path: Path) -> None:
    """Put the checked sdist at paths.bigbench_sdist() (a copy when it is the user's file)."""
    kept = paths.bigbench_sdist()
    if sdist.resolve() == kept.resolve():
        return
    if sdist.parent != tmp_path:
        staged = tmp_path / "kept.tar.gz"
        shutil.copyfile(sdist, staged)
        sdist = staged
    os.replace(sdist, kept)


def _keep_sdist(sdist: Path | None, expected_sha256: str, log: Callable[[str], None]) -> None:
    """Download (or copy) and check the sdist into the cache, leaving the task files alone."""
    kept = paths.bigbench_sdist()
    kept.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=kept.parent, prefix=".fetch-") as tmp:
        _store_sdist(_checked_sdist(sdist, Path(tmp), expected_sha256, log), Path(tmp))
    log(f"kept the BIG-bench source distribution in {kept}")


def feedback_source() -> str:
    return os.environ.get("RHF_FEEDBACK_SOURCE") or FEEDBACK_REPO_URL


def fetch_feedback(
    source: str | None = None, force: bool = False, log: Callable[[str], None] = print
) -> Path:
    """Copy the paper's feedback files into the cache from a local folder or the repository."""
    explicit = source or os.environ.get("RHF_FEEDBACK_SOURCE")
    source = explicit or FEEDBACK_REPO_URL
    target = paths.feedback_raw_dir()
    if not force and all((target / f).exists() for f in paths.FEEDBACK_FILES):
        marker = target / "SOURCE"
        cached_from = marker.read_text().strip() if marker.exists() else ""
        # Reuse the cache unless a different source is asked for explicitly.
        if not explicit or cached_from == source:
            log(f"feedback files already in {target} (from {cached_from or 'unknown'})")
            return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        staged = Path(tmp) / "feedback"
        is_url = source.startswith(("http://", "https://"))
        for rel in paths.FEEDBACK_FILES:
            out = staged / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            if is_url:
                url = _raw_url(source, rel)
                try:
                    with urllib.request.urlopen(url, timeout=60) as resp, out.open("wb") as fh:
                        shutil.copyfileobj(resp, fh)
                except OSError as exc:
                    raise FetchError(
                        f"RHF_FEEDBACK_SOURCE={source}: could not download {url} ({exc})"
                    ) from exc
                if sha256_file(out) != FEEDBACK_SHA256[rel]:
                    raise FetchError(f"sha256 mismatch for {url}; the cache was not changed")
            else:
                src = Path(source).expanduser() / rel
                if not src.is_file():
                    raise FetchError(
                        f"RHF_FEEDBACK_SOURCE={source}: looked for {src} "
                        "(expected strategyqa/train.jsonl, strategyqa/eval.jsonl and "
                        "sports_understanding/train.jsonl in that folder)"
                    )
                try:
                    shutil.copyfile(src, out)
                except OSError as exc:
                    raise FetchError(f"RHF_FEEDBACK_SOURCE={source}: cannot read {src}") from exc
        (staged / "SOURCE").write_text(source + "\n")
        replace_folder(staged, target)
    log(f"feedback files from {source} in {target}")
    return target


def _raw_url(repo_url: str, rel: str) -> str:
    if "github.com/" in repo_url and "raw" not in repo_url:
        owner_repo = repo_url.rstrip("/").split("github.com/", 1)[1]
        return f"https://raw.githubusercontent.com/{owner_repo}/{FEEDBACK_COMMIT}/data/{rel}"
    return f"{repo_url.rstrip('/')}/{rel}"
