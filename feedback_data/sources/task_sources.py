"""Where BIG-bench task data comes from: sources tried in order, each copy checked by content.

Sources, in order (the first that answers with a faithful copy wins):

1. **Local folders** (``RHF_DATA_DIR``, several joined with ``:``; ``rhf data fetch --from``
   puts its folder first). A task ``T`` is ``T/task.json`` (BIG-bench's ``benchmark_tasks/``
   layout) or ``bigbench-T/task.json``; Sports Understanding also needs ``vocab.json`` beside
   it. StrategyQA may also be its own release: ``strategyqa_train.json``, or every ``*.json``
   of a ``strategyqa-train/`` folder (records with question, answer, facts).
2. **BIG-bench's public repository**, raw files (``RHF_BIGBENCH_URL``, the folder that holds
   ``<task>/task.json``; ``off`` skips it).
3. **StrategyQA's public release**, raw files (``RHF_STRATEGYQA_URL``: a folder holding
   ``train.json`` and ``dev.json``, the two halves of the official training set; ``off``
   skips it).

No source is a package download: the ``bigbench==1.0.0`` sdist is gone from the index, and it
was 360 MB for three small files.

A copy is checked by the **content of its parsed examples**, never by its bytes: each example
becomes a canonical record (question, sorted target scores, targets, whitespace collapsed),
the records are hashed one by one, and the sorted set of hashes is the task's digest. File
order, key order, JSON formatting and exact repeats do not matter; another example does, and
the refusal names it. The built-in tasks' digests are pinned in ``task_pins.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_DIRS = "RHF_DATA_DIR"
ENV_BIGBENCH_URL = "RHF_BIGBENCH_URL"
ENV_STRATEGYQA_URL = "RHF_STRATEGYQA_URL"
# BIG-bench's task files; the content is pinned by digest (task_pins.json), not by this ref.
BIGBENCH_URL = "https://raw.githubusercontent.com/google/BIG-bench/main/bigbench/benchmark_tasks"
# StrategyQA's training set as released in two halves (train.json + dev.json, 2,290 records).
STRATEGYQA_URL = "https://raw.githubusercontent.com/eladsegal/strategyqa/main/data/strategyqa"
HTTP_TIMEOUT = 30
PINS_FILE = Path(__file__).with_name("task_pins.json")
BUILTIN = ("strategyqa", "sports_understanding")
_NAME = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)?")


class SourceError(RuntimeError):
    """No source gave a faithful copy; the message has one line per source tried."""


class Miss(Exception):
    """One source does not have the task (or its copy is refused); the message says why."""


# ---- canonical content ----------------------------------------------------------------------

def _text(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, list):
        return [_text(v) for v in value]
    if isinstance(value, dict):
        return {_text(k): _text(v) for k, v in sorted(value.items())}
    return value


def canonical_example(raw: dict[str, Any]) -> dict[str, Any]:
    """What defines a BIG-bench example: its input, target scores and targets, with
    whitespace collapsed and keys sorted (comments and other metadata left out)."""
    target = raw.get("target")
    targets = target if isinstance(target, list) else ([] if target is None else [target])
    return {"input": _text(raw.get("input", "")), "target_scores": _text(
        raw.get("target_scores") or {}), "target": _text(targets)}


def example_digest(raw: dict[str, Any]) -> str:
    blob = json.dumps(canonical_example(raw), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def examples_digest(examples: Iterable[dict[str, Any]]) -> tuple[list[str], str]:
    """(sorted distinct example digests, the task digest over them)."""
    keys = sorted({example_digest(e) for e in examples})
    return keys, hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


def json_digest(obj: Any) -> str:
    """A digest of parsed JSON (key order and formatting do not matter)."""
    blob = json.dumps(_text(obj), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def strategyqa_as_bigbench(records: list[Any], where: str) -> dict[str, Any]:
    """StrategyQA release records -> BIG-bench's ``strategyqa`` task: the question, Yes/No
    target scores from ``answer``, and the target "Yes. " or "No. " followed by the facts."""
    examples = []
    for i, rec in enumerate(records):
        try:
            answer, facts = bool(rec["answer"]), rec["facts"]
            question = rec["question"]
        except (KeyError, TypeError) as exc:
            raise Miss(f"{where}: record {i} has no {exc.args[0]!r} field "
                       "(expected question, answer, facts)") from None
        if not isinstance(facts, list):
            raise Miss(f"{where}: record {i}: 'facts' is not a list")
        word = "Yes" if answer else "No"
        examples.append({"input": question, "target_scores": {"Yes": int(answer),
                         "No": int(not answer)}, "target": f"{word}. " + " ".join(facts)})
    return {"name": "strategyqa", "examples": examples}


def with_canonical_text(raw: dict[str, Any]) -> dict[str, Any]:
    """The example with its input, targets and target scores as the digest reads them
    (whitespace collapsed), other keys as they are: copies that pass the same check give the
    same prompts."""
    return {**raw, **{k: _text(raw[k]) for k in ("input", "target", "target_scores")
                      if k in raw}}


def ordered_examples(examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Distinct examples in digest order: the same list from any faithful copy."""
    by_key = {example_digest(e): e for e in examples}
    return [by_key[k] for k in sorted(by_key)]


# ---- pins ----------------------------------------------------------------------------------

def load_pins() -> dict[str, Any]:
    return json.loads(PINS_FILE.read_text(encoding="utf-8"))


def check_against_pin(name: str, data: dict[str, Any], vocab: Any, where: str,
                      pins: dict[str, Any] | None = None) -> str:
    """The task digest when ``data`` (and ``vocab``) hold the pinned examples; else Miss
    naming the count and the first differing example."""
    pin = (pins or load_pins()).get(name)
    keys, digest = examples_digest(data["examples"])
    if pin is None:
        return digest
    if digest != pin["digest"]:
        want = set(pin["examples"])
        extra = [e for e in data["examples"] if example_digest(e) not in want]
        have = set(keys)
        missing = [k for k in pin["examples"] if k not in have]
        first = (f"first differing example: {_short(extra[0].get('input'))} is not in the "
                 "pinned data" if extra else f"first missing example: {missing[0]}")
        raise Miss(f"{where}: other examples than the pinned {name} ({len(keys)} distinct, "
                   f"expected {len(pin['examples'])}; digest {digest}, expected "
                   f"{pin['digest']}); {first}")
    if "vocab" in pin and json_digest(vocab) != pin["vocab"]:
        raise Miss(f"{where}: vocab.json differs from the pinned one (digest "
                   f"{json_digest(vocab)}, expected {pin['vocab']})")
    return digest


def _short(text: Any, n: int = 70) -> str:
    text = str(text)
    return repr(text if len(text) <= n else text[:n] + "...")


# ---- the sources ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """One place to look: a local folder or a base URL of raw files."""

    kind: str  # "folder" | "bigbench-url" | "strategyqa-url"
    where: str

    def describe(self) -> str:
        """How a report names it: the folder, or the raw files' base URL."""
        label = {"folder": "folder", "bigbench-url": "BIG-bench repository",
                 "strategyqa-url": "StrategyQA release"}[self.kind]
        return f"{label} {self.where}"


@dataclass(frozen=True)
class Found:
    """A checked copy of a task: its data (BIG-bench's task.json shape), vocab, provenance."""

    name: str
    data: dict[str, Any]
    vocab: Any
    source: str
    digest: str


def default_sources(extra_dirs: Iterable[str | Path] = ()) -> list[Source]:
    dirs = [str(d) for d in extra_dirs]
    dirs += [d for d in os.environ.get(ENV_DIRS, "").split(os.pathsep) if d.strip()]
    out = [Source("folder", os.path.abspath(Path(d).expanduser())) for d in dict.fromkeys(dirs)]
    for kind, env, default in (("bigbench-url", ENV_BIGBENCH_URL, BIGBENCH_URL),
                               ("strategyqa-url", ENV_STRATEGYQA_URL, STRATEGYQA_URL)):
        url = os.environ.get(env, default).strip()
        if url and url.lower() != "off":
            out.append(Source(kind, url.rstrip("/")))
    return out


def _parse(blob: bytes, where: str) -> Any:
    try:
        return json.loads(blob.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Miss(f"{where}: not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise Miss(f"{where}: invalid JSON ({exc.msg}, line {exc.lineno})") from None


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as resp:
            return resp.read()
    except urllib.error.HTTPError as exc:
        raise Miss(f"{url}: HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Miss(f"{url}: {reason}") from None


def _folder_task(folder: Path, name: str) -> tuple[Any, Path]:
    if not folder.is_dir():
        raise Miss("not a folder")
    tried = [folder / name / "task.json", folder / f"bigbench-{name}" / "task.json"]
    for path in tried:
        if path.is_file():
            return _parse(path.read_bytes(), str(path)), path
    if name == "strategyqa":
        release = [folder / "strategyqa_train.json"]
        release += sorted((folder / "strategyqa-train").glob("*.json"))
        records: list[Any] = []
        used = [p for p in release if p.is_file()]
        for path in used:
            part = _parse(path.read_bytes(), str(path))
            if not isinstance(part, list):
                raise Miss(f"{path}: not a list of StrategyQA records")
            records += part
        if used:
            return strategyqa_as_bigbench(records, ", ".join(map(str, used))), used[0]
        tried += release[:1] + [folder / "strategyqa-train" / "*.json"]
    raise Miss("no " + ", ".join(str(p.relative_to(folder)) for p in tried))


def _read(source: Source, name: str) -> tuple[Any, Any, str]:
    """(task data, vocab or None, where) from one source; Miss when it lacks the task."""
    vocab = None
    if source.kind == "folder":
        data, path = _folder_task(Path(source.where), name)
        where = str(path)
        if name == "sports_understanding":
            vpath = path.parent / "vocab.json"
            if not vpath.is_file():
                raise Miss(f"no vocab.json beside {path}")
            vocab = _parse(vpath.read_bytes(), str(vpath))
    elif source.kind == "bigbench-url":
        where = f"{source.where}/{name}/task.json"
        data = _parse(_get(where), where)
        if name == "sports_understanding":
            vurl = f"{source.where}/{name}/vocab.json"
            vocab = _parse(_get(vurl), vurl)
    else:
        records = []
        for part in ("train.json", "dev.json"):
            url = f"{source.where}/{part}"
            got = _parse(_get(url), url)
            if not isinstance(got, list):
                raise Miss(f"{url}: not a list of StrategyQA records")
            records += got
        where = f"{source.where}/{{train,dev}}.json"
        data = strategyqa_as_bigbench(records, where)
    if not isinstance(data, dict) or not isinstance(data.get("examples"), list) \
            or not data["examples"]:
        raise Miss(f"{where}: no examples (a BIG-bench task split into subtasks? name one, "
                   f"e.g. {name}/SUBTASK)")
    for i, ex in enumerate(data["examples"]):
        if not isinstance(ex, dict) or "input" not in ex:
            raise Miss(f"{where}: example {i} has no 'input'")
    return data, vocab, where


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name or ""):
        raise SourceError(f"{name!r} is not a BIG-bench task name (e.g. navigate, "
                          "logical_deduction/three_objects)")


def find_task(name: str, sources: list[Source] | None = None,
              log: Callable[[str], None] = lambda _m: None) -> Found:
    """The first faithful copy of task ``name`` among ``sources`` (default_sources())."""
    check_name(name)
    sources = default_sources() if sources is None else sources
    pins = load_pins()
    failures = []
    for source in sources:
        if source.kind == "strategyqa-url" and name != "strategyqa":
            continue  # StrategyQA's release holds that one task
        try:
            data, vocab, where = _read(source, name)
            digest = check_against_pin(name, data, vocab, where, pins)
        except Miss as exc:
            label = source.describe() if source.kind == "folder" else \
                source.describe().rsplit(" ", 1)[0]
            failures.append(f"  {label}: {exc}")
            continue
        log(f"{name}: {source.describe()} (digest {digest})")
        return Found(name, data, vocab, source.describe(), digest)
    raise SourceError(no_source_message(name, failures))


def no_source_message(name: str, failures: list[str]) -> str:
    tried = "\n".join(failures) or "  (no source configured)"
    return (f"BIG-bench task {name!r} was found in no source; tried, in order:\n{tried}\n"
            f"Point {ENV_DIRS} at a folder holding a copy ({name}/task.json, BIG-bench's "
            "layout), or run `rhf data fetch --from PATH`.")
