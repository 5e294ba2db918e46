"""The task spec and its YAML file: what a task is, checked before any data is read.

    name: date_understanding             # lower case, digits, _ or -
    display_name: Date Understanding     # optional: how reports name it
    loader:                              # one of bigbench, bigbench_file, bbh, jsonl, hf
      bigbench: date_understanding       # a BIG-bench task by name (or 'task/subtask')
      # bigbench_file: navigate/task.json  # a BIG-bench task.json, or its folder
      # bbh: bbh/navigate.json           # a BIG-Bench Hard file {"examples": [{input, target}]}
      # jsonl: questions.jsonl           # one object per line (paths relative to this file)
      # hf: my_dataset                   # a datasets folder (save_to_disk); split: test
    fields: {question: input}            # record field of each part (defaults per loader)
    question: "{input}"                  # optional template over a record's fields
    answer:
      type: multiple_choice              # yes_no | multiple_choice | free_form
      shuffle_options: true              # multiple_choice: seeded by the question
      # normalizer: number               # free_form: number | text | exact
      # pattern: 'answer: (?P<answer>\\S+)'  # optional: how to read the answer from a chain
    shots: {file: date_shots.jsonl}      # or {prompt: cot.txt} (a CoT prompt file, BBH's
                                         # layout), {from: data} (train questions with an
                                         # explanation) or {from: none}
    dev_fraction: 0.5                    # share of the questions held out as the dev set
    claims: content_words                # how the critic's verification compares two
                                         # chains' claims (feedback_data/text/claims.py)

An unknown key, a missing loader or a bad value is one :class:`SpecError` naming the file and
the field; that the data fits the answer type is checked when it is read (loaders).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from feedback_data.errors import DataError
from feedback_data.files.io import NotUtf8, read_utf8
from feedback_data.records.schema import TASK_NAME_PATTERN
from feedback_data.tasks.formats import (
    bigbench_task_path,
    bigbench_template,
    parse_bigbench_task,
    read_json,
)
from feedback_data.text.answers import NORMALIZERS, YES_NO, AnswerFormat
from feedback_data.text.claims import CLAIM_READERS, DEFAULT_CLAIM_READER

LOADER_KINDS = ("bigbench", "bigbench_file", "bbh", "jsonl", "hf")
SHOT_SOURCES = ("data", "file", "prompt", "none")
FIELD_NAMES = ("id", "question", "answer", "explanation", "options")
DEFAULT_FIELDS = {"bigbench": {"question": "input"}, "bigbench_file": {"question": "input"},
                  "bbh": {"question": "input", "answer": "target", "options": "options"},
                  "jsonl": {f: f for f in FIELD_NAMES}, "hf": {f: f for f in FIELD_NAMES}}
TOP_KEYS = ("name", "display_name", "description", "loader", "fields", "question", "answer",
            "shots", "dev_fraction", "claims")
LOADER_KEYS = (*LOADER_KINDS, "split")
ANSWER_KEYS = ("type", "normalizer", "shuffle_options", "pattern")
SHOTS_KEYS = ("from", "file", "prompt")


class SpecError(DataError):
    """A task spec that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class LoaderSpec:
    """Where the questions come from: kind 'bigbench' (task name), 'bigbench_file' (a
    task.json), 'bbh' (a BIG-Bench Hard file), 'jsonl' or 'hf' (a path), or 'builtin' (the two
    built-in tasks' own loaders)."""

    kind: str
    source: str
    split: str | None = None


@dataclass(frozen=True)
class ShotsSpec:
    """Where the CoT shots come from: 'data' (train questions with an explanation), 'file'
    (a JSONL of {question, answer, explanation[, options]}), 'prompt' (a CoT prompt .txt,
    BBH's layout: its instruction line heads every k-shot prompt) or 'none'."""

    source: str = "data"
    file: Path | None = None


@dataclass(frozen=True)
class TaskSpec:
    """One task. Built-in specs (``builtin``) keep their own loaders, splits and shots."""

    name: str
    loader: LoaderSpec
    answer_format: AnswerFormat = YES_NO
    shuffle_options: bool = False
    question: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    shots: ShotsSpec = field(default_factory=ShotsSpec)
    dev_fraction: float = 0.5
    display_name: str = ""
    description: str = ""
    path: Path | None = None
    builtin: bool = False
    # How the critic's verification reads a chain's claims (feedback_data/text/claims.py).
    claims: str = DEFAULT_CLAIM_READER

    @property
    def title(self) -> str:
        return self.display_name or self.name

    @property
    def answer_type(self) -> str:
        return self.answer_format.type

    def field_of(self, part: str) -> str | None:
        """The record field holding ``part`` (id, question, answer, explanation, options)."""
        return dict(self.fields).get(part)

    def where(self) -> str:
        return str(self.path) if self.path else f"task {self.name}"


SHOWN = 80  # of a bad name, at most this much is quoted


def _mapping(value: Any, where: str, key: str, known: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(f"{where}: field '{key}': expected a mapping, got "
                        f"{type(value).__name__}")
    unknown = [k for k in value if k not in known]
    if unknown:
        prefix = f"{key}." if key else ""
        raise SpecError(f"{where}: unknown field '{prefix}{unknown[0]}' (known: "
                        f"{', '.join(known)})")
    return value


def _string(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where}: field '{key}': expected a non-empty string, got {value!r}")
    return value


def _relative(base: Path | None, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() or base is None else base / path


def parse_spec(raw: Any, path: Path | None = None) -> TaskSpec:
    """A TaskSpec from the parsed YAML of ``path`` (or a dict built in code, ``path=None``)."""
    where = str(path) if path else "task spec"
    base = path.parent if path else None
    top = _mapping(raw, where, "", TOP_KEYS)
    if "name" not in top:
        raise SpecError(f"{where}: field 'name': missing")
    name = _string(top["name"], where, "name")
    control = next((i for i, ch in enumerate(name) if ch < " " or "\x7f" <= ch <= "\x9f"), None)
    if control is not None:
        raise SpecError(f"{where}: field 'name': {name[:SHOWN]!r} holds a control character "
                        f"({name[control]!r} at position {control}); a task name is lower "
                        f"case letters, digits, '_' or '-'")
    if not re.fullmatch(TASK_NAME_PATTERN, name):
        raise SpecError(f"{where}: field 'name': {name!r} must be lower case letters, digits, "
                        "'_' or '-'")
    if "loader" not in top:
        raise SpecError(f"{where}: field 'loader': missing (give one of "
                        f"{', '.join(LOADER_KINDS)})")
    loader_raw = _mapping(top["loader"], where, "loader", LOADER_KEYS)
    kinds = [k for k in LOADER_KINDS if k in loader_raw]
    if len(kinds) != 1:
        raise SpecError(f"{where}: field 'loader': give exactly one of "
                        f"{', '.join(LOADER_KINDS)}, got {kinds or 'none'}")
    kind = kinds[0]
    source = _string(loader_raw[kind], where, f"loader.{kind}")
    if kind != "bigbench":
        resolved = _relative(base, source)
        if kind == "bigbench_file":
            resolved = bigbench_task_path(resolved)
        if not resolved.exists():
            raise SpecError(f"{where}: field 'loader.{kind}': {resolved} not found")
        if kind in ("bigbench_file", "bbh") and not resolved.is_file():
            raise SpecError(f"{where}: field 'loader.{kind}': {resolved} is not a file")
        source = str(resolved)
    split = loader_raw.get("split")
    if split is not None and (kind != "hf" or not isinstance(split, str)):
        raise SpecError(f"{where}: field 'loader.split': a split name, for an hf loader only")
    fields = dict(DEFAULT_FIELDS[kind])
    for part, column in _mapping(top.get("fields", {}), where, "fields", FIELD_NAMES).items():
        fields[part] = _string(column, where, f"fields.{part}")
    template = top.get("question")
    if template is not None:
        template = _string(template, where, "question")
        if not re.search(r"\{[^{}]+\}", template):
            raise SpecError(f"{where}: field 'question': a template needs a {{field}}, e.g. "
                            "'{input}'")
    elif kind == "bigbench_file":  # the task's own prefixes, as BIG-bench shows its inputs
        template = bigbench_template(parse_bigbench_task(read_json(Path(source)), source))
    answer_raw = _mapping(top.get("answer", {"type": "yes_no"}), where, "answer", ANSWER_KEYS)
    if "type" not in answer_raw:
        raise SpecError(f"{where}: field 'answer.type': missing (yes_no, multiple_choice or "
                        "free_form)")
    try:
        fmt = AnswerFormat(type=answer_raw["type"], normalizer=answer_raw.get("normalizer"),
                           pattern=answer_raw.get("pattern"))
    except ValueError as exc:
        bad = "pattern" if "pattern" in str(exc) else (
            "normalizer" if "normalizer" in str(exc) else "type")
        raise SpecError(f"{where}: field 'answer.{bad}': {exc}") from None
    shuffle = answer_raw.get("shuffle_options", False)
    if not isinstance(shuffle, bool) or (shuffle and fmt.type != "multiple_choice"):
        raise SpecError(f"{where}: field 'answer.shuffle_options': true or false, for a "
                        "multiple_choice answer only")
    shots = _shots(top.get("shots", {"from": "data"}), where, base)
    dev_fraction = top.get("dev_fraction", 0.5)
    if isinstance(dev_fraction, bool) or not isinstance(dev_fraction, int | float) \
            or not 0 <= dev_fraction <= 1:
        raise SpecError(f"{where}: field 'dev_fraction': a number in [0, 1], got "
                        f"{dev_fraction!r}")
    for key in ("display_name", "description"):
        if key in top and not isinstance(top[key], str):
            raise SpecError(f"{where}: field '{key}': expected a string")
    claims = top.get("claims", DEFAULT_CLAIM_READER)
    if claims not in CLAIM_READERS:
        raise SpecError(f"{where}: field 'claims': {claims!r} is not a claim reader (known: "
                        f"{', '.join(CLAIM_READERS)})")
    return TaskSpec(name=name, loader=LoaderSpec(kind, source, split), answer_format=fmt,
                    shuffle_options=shuffle, question=template,
                    fields=tuple(sorted(fields.items())), shots=shots,
                    dev_fraction=float(dev_fraction),
                    display_name=top.get("display_name", ""),
                    description=top.get("description", ""), path=path, claims=claims)


def _shots(value: Any, where: str, base: Path | None) -> ShotsSpec:
    raw = _mapping(value, where, "shots", SHOTS_KEYS)
    keys = [k for k in ("file", "prompt") if k in raw]
    if len(keys) > 1:
        raise SpecError(f"{where}: field 'shots': give one of 'file' (a JSONL of shots) or "
                        "'prompt' (a CoT prompt .txt), not both")
    source = raw.get("from", keys[0] if keys else "data")
    if source not in SHOT_SOURCES:
        raise SpecError(f"{where}: field 'shots.from': one of {', '.join(SHOT_SOURCES)}, got "
                        f"{source!r}")
    for key in ("file", "prompt"):
        if (source == key) != (key in raw):
            raise SpecError(f"{where}: field 'shots.{key}': "
                            + (f"missing (shots from a {key})" if source == key
                               else f"only with shots from a {key}, not from {source}"))
    if source not in ("file", "prompt"):
        return ShotsSpec(source)
    path = _relative(base, _string(raw[source], where, f"shots.{source}"))
    if not path.is_file():
        raise SpecError(f"{where}: field 'shots.{source}': {path} not found")
    return ShotsSpec(source, path)


def load_spec_file(path: str | Path) -> TaskSpec:
    """Read and check a task YAML file."""
    path = Path(path)
    try:
        text = read_utf8(path)
    except NotUtf8 as exc:
        raise SpecError(str(exc)) from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise SpecError(f"{path}{line}: invalid YAML ({getattr(exc, 'problem', None) or exc})"
                        ) from None
    return parse_spec(raw, path)


__all__ = ["NORMALIZERS", "LoaderSpec", "ShotsSpec", "SpecError", "TaskSpec", "load_spec_file",
           "parse_spec"]
