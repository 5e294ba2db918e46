"""Download the datasets once: BIG-bench's task files and the paper's released feedback.

BIG-bench tasks come from the first of feedback_data.sources.task_sources' sources (local folders,
then BIG-bench's and StrategyQA's public raw files) whose copy has the pinned examples; the
cache holds each task's ``task.json`` (examples in digest order), ``vocab.json`` and
``SOURCE.json`` (where it came from, its digest). Any other BIG-bench task is fetched the
same way the first time a task spec names it.
The feedback comes from ``RHF_FEEDBACK_SOURCE``: a local folder or the paper's repository
URL (the default).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

from feedback_data.files import paths
from feedback_data.files.io import replace_folder, sha256_file
from feedback_data.sources.task_sources import (
    BUILTIN,
    Found,
    SourceError,
    default_sources,
    example_digest,
    find_task,
    load_pins,
    ordered_examples,
    with_canonical_text,
)

SOURCE_FILE = "SOURCE.json"

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


def _cached(name: str) -> dict | None:
    """The provenance of the cached copy of ``name`` when its files are all there."""
    folder = paths.bigbench_dir() / name
    marker = folder / SOURCE_FILE
    files = [folder / "task.json"] + ([folder / "vocab.json"]
                                      if name == "sports_understanding" else [])
    if not marker.is_file() or not all(f.is_file() for f in files):
        return None
    try:
        return json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def store_task(found: Found) -> Path:
    """Write a checked copy into the cache, atomically: ``task.json`` (the examples in
    digest order, whitespace as the digest reads it, exact repeats of a built-in task's
    examples once, every other key as the source has it), ``vocab.json`` and its provenance."""
    folder = paths.bigbench_dir() / found.name
    folder.parent.mkdir(parents=True, exist_ok=True)
    data = dict(found.data)
    # content order, never the source's file order: any faithful copy caches the same file
    examples = [with_canonical_text(e) for e in data["examples"]]
    data["examples"] = (ordered_examples(examples) if found.name in BUILTIN
                        else sorted(examples, key=example_digest))
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".fetch-") as tmp:
        staged = Path(tmp) / "task"
        staged.mkdir()
        (staged / "task.json").write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n",
                                          encoding="utf-8")
        if found.vocab is not None:
            (staged / "vocab.json").write_text(json.dumps(found.vocab, indent=1) + "\n",
                                               encoding="utf-8")
        provenance = {"task": found.name, "source": found.source, "digest": found.digest,
                      "examples": len(data["examples"])}
        (staged / SOURCE_FILE).write_text(json.dumps(provenance, indent=1) + "\n")
        replace_folder(staged, folder)
    return folder


def fetch_task(name: str, from_dirs: Iterable[str | Path] = (), force: bool = False,
               log: Callable[[str], None] = print) -> dict:
    """Make sure BIG-bench task ``name`` is in the cache, from the first source that has a
    faithful copy (feedback_data.sources.task_sources); returns its provenance."""
    from_dirs = list(from_dirs)
    cached = _cached(name)
    pin = load_pins().get(name)
    if cached is not None and not force and not from_dirs and (
            pin is None or cached.get("digest") == pin["digest"]):
        return cached
    try:
        found = find_task(name, default_sources(from_dirs), log=log)
    except SourceError as exc:
        raise FetchError(str(exc)) from None
    store_task(found)
    cached = _cached(name)
    assert cached is not None
    return cached


def fetch_bigbench(force: bool = False, from_dirs: Iterable[str | Path] = (),
                   log: Callable[[str], None] = print) -> dict[str, dict]:
    """The built-in tasks' BIG-bench data in the cache; each task's provenance (where it
    came from, its content digest)."""
    out = {}
    for name in BUILTIN:
        info = fetch_task(name, from_dirs, force, log=lambda _m: None)
        log(f"{name}: {info['examples']} examples from {info['source']} "
            f"(digest {info['digest']})")
        out[name] = info
    return out


def task_provenance(names: Iterable[str]) -> dict[str, dict]:
    """Where each cached BIG-bench task came from, for reports ({} for one not cached)."""
    return {n: info for n in names if (info := _cached(n)) is not None}


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
