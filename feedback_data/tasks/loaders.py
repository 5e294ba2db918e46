"""A spec's questions as Examples: from a BIG-bench task (by name, from the data sources, or
a task.json by path), a BIG-Bench Hard file, a JSONL file or a datasets folder; every record
checked against the spec's answer type. Shots from a shots JSONL or a CoT prompt file; the
spec's question template applied to questions asked directly (:func:`apply_template`).

Each error is one line naming the file (or the BIG-bench task and example) and the field:
an answer the type does not fit, a multiple-choice gold answer not among the options, a
duplicate id, a missing question. Records without an answer are unlabelled questions
(``Example.answer`` None); BIG-bench records always have one.

A BIG-bench task asked for by name (``loader: {bigbench: NAME}``) is read, the first time,
from the first data source that has ``NAME/task.json`` (feedback_data.sources.task_sources:
local folders, then BIG-bench's public raw files) and stored in the cache with its
provenance, so every later read is offline and fast.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feedback_data.errors import DataError
from feedback_data.files import paths
from feedback_data.records.jsonl import iter_json_lines
from feedback_data.records.schema import Example, stable_id
from feedback_data.sources.bigbench import example_id, normalize_question
from feedback_data.sources.task_sources import SourceError, check_name
from feedback_data.tasks.formats import (
    parse_bbh_task,
    parse_bigbench_task,
    read_cot_prompt,
    read_json,
    split_options,
)
from feedback_data.tasks.spec import SpecError, TaskSpec
from feedback_data.text.answers import (
    ALIASES_KEY,
    FORMAT_KEY,
    OPTIONS_KEY,
    letter,
    normalize_answer,
    render_options,
)

SOURCE_OF_KIND = {"bigbench": "bigbench", "bigbench_file": "bigbench", "bbh": "file",
                  "jsonl": "file", "hf": "dataset"}
BIGBENCH_KINDS = ("bigbench", "bigbench_file")


# ---- BIG-bench tasks by name, fetched once into the cache ------------------------------------

def bigbench_task_file(name: str) -> Path:
    """The cached ``<name>/task.json`` of a BIG-bench task, fetched the first time."""
    fetch_bigbench_tasks([name])
    return paths.bigbench_dir() / name / "task.json"


def fetch_bigbench_tasks(names: Iterable[str]) -> None:
    """Fetch each of ``names`` not cached yet; one clear error for the first that fails."""
    from feedback_data.sources.fetch import FetchError, fetch_task

    for name in dict.fromkeys(names):
        try:
            check_name(name)
        except SourceError as exc:
            raise DataError(str(exc)) from None
        if (paths.bigbench_dir() / name / "task.json").is_file():
            continue
        try:
            fetch_task(name, log=lambda _m: None)
        except FetchError as exc:
            raise DataError(str(exc)) from None


# ---- raw records of each loader --------------------------------------------------------------

def _bigbench_records(name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    path = bigbench_task_file(name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON ({exc.msg})") from exc
    examples = data.get("examples") if isinstance(data, dict) else None
    if not examples:
        raise DataError(f"{path}: no examples (a BIG-bench task split into subtasks? name one)")
    for i, raw in enumerate(examples):
        yield f"BIG-bench {name} example {i}", raw


def _bigbench_file_records(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    task = parse_bigbench_task(read_json(Path(path)), path)
    for i, raw in enumerate(task.examples):
        yield f"{path} example {i}", raw


def _bbh_records(path: str, spec: TaskSpec) -> Iterator[tuple[str, dict[str, Any]]]:
    """A BBH file's examples; for a multiple-choice task the options are read out of the
    input's 'Options:' lines (field 'options'), the question is the text before them."""
    for i, raw in enumerate(parse_bbh_task(read_json(Path(path)), path)):
        where = f"{path} example {i}"
        if spec.answer_type == "multiple_choice":
            question, options = split_options(raw["input"])
            if len(options) < 2:
                raise SpecError(f"{spec.where()}: field 'answer.type': multiple_choice does "
                                f"not fit the data: {where} has no 'Options:' lines")
            raw = {**raw, "input": question, "options": options}
        yield where, raw


def _hf_records(folder: str, split: str | None) -> Iterator[tuple[str, dict[str, Any]]]:
    from datasets import DatasetDict, load_from_disk

    try:
        ds = load_from_disk(folder)
    except (FileNotFoundError, ValueError) as exc:
        raise DataError(f"{folder}: not a datasets folder ({exc})") from None
    if isinstance(ds, DatasetDict):
        if split is None or split not in ds:
            raise DataError(f"{folder}: a dataset with splits {', '.join(ds)}: give "
                            "loader.split")
        ds = ds[split]
    for i, row in enumerate(ds):
        yield f"{folder} row {i}", dict(row)


def raw_records(spec: TaskSpec) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, record) for every record the spec's loader reads."""
    kind, source = spec.loader.kind, spec.loader.source
    if kind == "bigbench":
        yield from _bigbench_records(source)
    elif kind == "bigbench_file":
        yield from _bigbench_file_records(source)
    elif kind == "bbh":
        yield from _bbh_records(source, spec)
    elif kind == "jsonl":
        for lineno, obj in iter_json_lines(source):
            yield f"{source}:{lineno}", obj
    elif kind == "hf":
        yield from _hf_records(source, spec.loader.split)
    else:  # pragma: no cover (built-in specs are read by feedback_data.tasks.builtin)
        raise DataError(f"{spec.where()}: loader {kind!r} is not read here")


# ---- records -> Examples --------------------------------------------------------------------

@dataclass
class LoadReport:
    """What reading a spec's data found, beyond the examples themselves."""

    records: int = 0
    duplicates: int = 0  # repeated questions (no explicit id, same answer) after the first
    unlabelled: int = 0
    first_duplicate: str | None = None
    notes: list[str] = field(default_factory=list)
    # records of questions whose copies disagree on the gold answer: every copy left out
    conflicting: int = 0
    conflicts: list[str] = field(default_factory=list)  # one line per such question


def _bigbench_gold(raw: dict[str, Any], spec: TaskSpec, where: str
                   ) -> tuple[Any, list[str], list[Any]]:
    """(gold, options, other accepted golds) of a BIG-bench record."""
    scores = raw.get("target_scores")
    target = raw.get("target")
    if spec.answer_type == "multiple_choice":
        if not isinstance(scores, dict) or not scores:
            raise SpecError(f"{spec.where()}: field 'answer.type': multiple_choice does not "
                            f"fit the data: {where} has no target_scores (options)")
        best = max(scores.values())
        return next(k for k, v in scores.items() if v == best), list(scores), []
    if isinstance(scores, dict) and scores and spec.answer_type == "yes_no":
        best = max(scores.values())
        return next(k for k, v in scores.items() if v == best), [], []
    if isinstance(target, list) and target:
        return target[0], [], list(target[1:])
    if target is not None:
        return target, [], []
    if isinstance(scores, dict) and scores:
        best = max(scores.values())
        return next(k for k, v in scores.items() if v == best), [], []
    raise DataError(f"{where}: missing field 'target' or 'target_scores'")


def _field(raw: dict[str, Any], spec: TaskSpec, part: str) -> Any:
    column = spec.field_of(part)
    return raw.get(column) if column else None


def _question_text(raw: dict[str, Any], spec: TaskSpec, where: str) -> str:
    if spec.question is not None:
        try:
            text = spec.question.format_map(raw)
        except KeyError as exc:
            raise DataError(f"{where}: missing field {exc.args[0]!r} (used by the spec's "
                            f"question template in {spec.where()})") from None
    else:
        column = spec.field_of("question") or "question"
        text = raw.get(column)
        if not isinstance(text, str):
            raise DataError(f"{where}: field '{column}': missing or not a string")
    text = " ".join(str(text).split())
    if not text:
        raise DataError(f"{where}: the question is empty")
    return text


def _options(value: Any, where: str, column: str) -> list[str]:
    if not isinstance(value, list) or len(value) < 2 or not all(
            isinstance(o, str | int | float) and str(o).strip() for o in value):
        raise DataError(f"{where}: field '{column}': expected a list of at least two options")
    options = [" ".join(str(o).split()) for o in value]
    if len(set(options)) != len(options):
        raise DataError(f"{where}: field '{column}': an option appears twice")
    return options


def _choice_gold(gold: Any, options: list[str], where: str, column: str) -> int:
    """The index of the gold option: given as its text, its letter or its 0-based index."""
    if isinstance(gold, int) and not isinstance(gold, bool):
        if 0 <= gold < len(options):
            return gold
    elif isinstance(gold, str):
        text = " ".join(gold.split())
        if text in options:
            return options.index(text)
        stripped = text.strip("()").upper()
        if len(stripped) == 1 and stripped.isalpha() and ord(stripped) - 65 < len(options):
            return ord(stripped) - 65
    raise DataError(f"{where}: field '{column}': {gold!r} is not among the options "
                    f"{options}")


def example_from_record(raw: Any, spec: TaskSpec, where: str, index: int,
                        shot: bool = False) -> Example:
    """One record as an Example of ``spec`` (the answer normalized, options in the question)."""
    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected an object, got {type(raw).__name__}")
    fmt = spec.answer_format
    kind = "jsonl" if shot else spec.loader.kind
    answer_col = "answer" if shot else (spec.field_of("answer") or "answer")
    options_col = "options" if shot else (spec.field_of("options") or "options")
    question = (" ".join(str(raw.get("question", "")).split()) if shot
                else _question_text(raw, spec, where))
    if not question:
        raise DataError(f"{where}: field 'question': missing or empty")
    aliases: list[Any] = []
    if kind in BIGBENCH_KINDS:
        gold, options, aliases = _bigbench_gold(raw, spec, where)
        options = [" ".join(str(o).split()) for o in options]
    else:
        gold = raw.get(answer_col)
        raw_options = raw.get(options_col)
        if fmt.type == "multiple_choice":
            if raw_options is None:
                raise DataError(f"{where}: field '{options_col}': missing (a multiple_choice "
                                "task needs the options)")
            options = _options(raw_options, where, options_col)
        else:
            options = []
        if isinstance(gold, list) and fmt.type == "free_form":
            gold, aliases = (gold[0], gold[1:]) if gold else (None, [])
    meta: dict[str, Any] = {FORMAT_KEY: fmt.to_meta(), "index": index}
    if fmt.type == "multiple_choice":
        gold_index = (None if gold is None or gold == ""
                      else _choice_gold(gold, options, where, answer_col))
        order = list(range(len(options)))
        if spec.shuffle_options and not shot:
            random.Random(stable_id(question, n=12)).shuffle(order)
        options = [options[i] for i in order]
        question = f"{question} {render_options(options)}"
        meta[OPTIONS_KEY] = options
        answer = None if gold_index is None else letter(order.index(gold_index))
    elif gold is None or gold == "":
        answer = None
    else:
        probe = Example(id="probe", task=spec.name, question=question, meta=meta)
        answer = normalize_answer(gold, probe)
        if answer is None:
            norm = f" with normalizer {fmt.normalizer}" if fmt.normalizer else ""
            raise SpecError(f"{spec.where()}: field 'answer.type': {fmt.type}{norm} does not "
                            f"fit the data: {where} has answer {gold!r}")
        extra = [a for a in (normalize_answer(x, probe) for x in aliases) if a and a != answer]
        if extra:
            meta[ALIASES_KEY] = list(dict.fromkeys(extra))
    raw_id = None if shot else _field(raw, spec, "id")
    if raw_id is not None and not isinstance(raw_id, str | int) or isinstance(raw_id, bool):
        raise DataError(f"{where}: field '{spec.field_of('id')}': expected a string or an "
                        "integer")
    ex_id = f"{spec.name}/{raw_id}" if raw_id not in (None, "") else example_id(spec.name,
                                                                              question)
    explanation_col = "explanation" if shot else spec.field_of("explanation")
    explanation = raw.get(explanation_col) if explanation_col else None
    if explanation is not None and not isinstance(explanation, str):
        raise DataError(f"{where}: field '{explanation_col}': expected a string")
    return Example(id=ex_id, task=spec.name, question=question, answer=answer,
                   explanation=" ".join((explanation or "").split()),
                   source=SOURCE_OF_KIND.get(kind, "file"), meta=meta)


def load_examples(spec: TaskSpec) -> tuple[list[Example], LoadReport]:
    """Every question of ``spec`` in file order, one per id; checked (see the module doc).

    A question repeated (no explicit id) with the same gold answer is kept once; one whose
    copies disagree on the gold answer is left out entirely and listed in
    ``LoadReport.conflicts``."""
    report = LoadReport()
    out: list[Example] = []
    first_at: dict[str, str] = {}
    kept: dict[str, tuple[str, Example]] = {}  # question key -> (where, the kept example)
    conflicting: dict[str, list[str]] = {}  # question key -> the records that disagree
    explicit = spec.loader.kind not in BIGBENCH_KINDS and spec.field_of("id") is not None
    for index, (where, raw) in enumerate(raw_records(spec)):
        report.records += 1
        ex = example_from_record(raw, spec, where, index)
        has_id = explicit and isinstance(raw, dict) and raw.get(spec.field_of("id")) not in (
            None, "")
        if has_id:
            if ex.id in first_at:
                raise DataError(f"{where}: field '{spec.field_of('id')}': duplicate id "
                                f"{ex.id.split('/', 1)[1]!r} (first at {first_at[ex.id]})")
        else:
            key = normalize_question(spec.name, ex.question)
            if key in kept or ex.id in first_at:
                first_where, first = kept.get(key) or (first_at[ex.id], ex)
                if first.answer != ex.answer:
                    conflicting.setdefault(key, [f"{first_where} ({first.answer!r})"]).append(
                        f"{where} ({ex.answer!r})")
                report.duplicates += 1
                report.first_duplicate = report.first_duplicate or where
                continue
            kept[key] = (where, ex)
        if ex.id in first_at:
            raise DataError(f"{where}: id {ex.id!r} is also the id of {first_at[ex.id]}")
        first_at[ex.id] = where
        out.append(ex)
    if conflicting:
        gone = {kept[k][1].id for k in conflicting}
        out = [e for e in out if e.id not in gone]
        report.conflicting = sum(len(v) for v in conflicting.values())
        report.duplicates -= report.conflicting - len(conflicting)
        report.conflicts = [f"{kept[k][1].question[-60:]!r}: " + " vs ".join(v)
                            for k, v in conflicting.items()]
    report.unlabelled = sum(e.answer is None for e in out)
    if not out:
        raise DataError(f"{spec.where()}: the loader read no questions")
    return out, report


def load_shot_file(spec: TaskSpec, path: Path) -> list[Example]:
    """The shots of a shots file: {question, answer, explanation[, options]} per line."""
    out = []
    allowed = {"question", "answer", "explanation", "options"}
    for i, (lineno, raw) in enumerate(iter_json_lines(path)):
        where = f"{path}:{lineno}"
        extra = sorted(set(raw) - allowed)
        if extra:
            raise DataError(f"{where}: unknown field '{extra[0]}' (a shot has "
                            f"{', '.join(sorted(allowed))})")
        ex = example_from_record(raw, spec, where, i, shot=True)
        if ex.answer is None:
            raise DataError(f"{where}: field 'answer': a shot needs its answer")
        if not ex.explanation:
            raise DataError(f"{where}: field 'explanation': a shot needs an explanation")
        out.append(ex.model_copy(update={"id": f"{spec.name}/shot-{stable_id(ex.question, n=8)}",
                                         "meta": {**ex.meta, "shot_file": str(path)}}))
    if not out:
        raise DataError(f"{path}: no shots")
    return out


def load_prompt_shots(spec: TaskSpec, path: Path) -> list[Example]:
    """The shots of a CoT prompt file (BBH's layout, see feedback_data.tasks.formats)."""
    out = []
    for i, shot in enumerate(read_cot_prompt(path).shots):
        raw: dict[str, Any] = {"question": shot.question, "answer": shot.answer,
                               "explanation": shot.explanation}
        if spec.answer_type == "multiple_choice":
            raw["options"] = list(shot.options)
        ex = example_from_record(raw, spec, f"{path}:{shot.line}", i, shot=True)
        out.append(ex.model_copy(update={"id": f"{spec.name}/shot-{stable_id(ex.question, n=8)}",
                                         "meta": {**ex.meta, "shot_file": str(path)}}))
    return out


def prompt_instruction(spec: TaskSpec) -> str:
    """The instruction line heading the task's k-shot prompts: a CoT prompt file's ('' for
    every other shot source)."""
    if spec.shots.source != "prompt" or spec.shots.file is None:
        return ""
    return read_cot_prompt(spec.shots.file).instruction


def template_fields(template: str) -> list[str]:
    """The record fields a question template uses, in order: '{input} ok? {x}' -> input, x."""
    import string

    return list(dict.fromkeys(name for _, name, _, _ in string.Formatter().parse(template)
                              if name))


def apply_template(spec: TaskSpec, question: str, record: dict[str, Any] | None = None,
                   where: str = "question") -> str:
    """A question asked directly (``--examples``, the service) as the task shows its
    questions: through the spec's ``question`` template. A template over one field takes the
    question as that field; over several, ``record`` must carry them."""
    text = " ".join(question.split())
    if spec.question is None:
        return text
    names = template_fields(spec.question)
    values = dict(record or {})
    if len(names) == 1:
        values.setdefault(names[0], text)
    missing = [n for n in names if n not in values]
    if missing:
        raise DataError(f"{where}: field {missing[0]!r}: missing (used by the question "
                        f"template of {spec.where()})")
    return " ".join(spec.question.format_map(values).split())


def read_questions(path: str | Path, spec: TaskSpec) -> list[Example]:
    """Questions to answer from a JSONL file (``--examples``): rhf Example records, or plain
    {question[, id, answer, explanation, options]} objects read as ``spec``'s JSONL loader
    would. Answers may be missing (unlabelled questions)."""
    from pydantic import ValidationError

    from feedback_data.records.jsonl import describe_validation_error

    out: list[Example] = []
    seen: dict[str, str] = {}
    plain = TaskSpec(name=spec.name, loader=spec.loader.__class__("jsonl", str(path)),
                     answer_format=spec.answer_format,
                     fields=tuple((f, f) for f in ("id", "question", "answer", "explanation",
                                                   "options")),
                     path=spec.path)
    allowed = {"id", "question", "answer", "explanation", "options"}
    for i, (lineno, raw) in enumerate(iter_json_lines(path)):
        where = f"{path}:{lineno}"
        if "task" in raw:  # an rhf Example record
            try:
                ex = Example.model_validate(raw)
            except ValidationError as exc:
                raise DataError(f"{where}: {describe_validation_error(exc)}") from None
            if ex.task != spec.name:
                raise DataError(f"{where}: field 'task': {ex.task!r}, but the task is "
                                f"{spec.name!r} (--task)")
        else:
            fields = set(template_fields(spec.question)) if spec.question else set()
            extra = sorted(set(raw) - allowed - fields)
            if extra:
                raise DataError(f"{where}: unknown field '{extra[0]}' (known: "
                                f"{', '.join(sorted(allowed))}, or an rhf Example record)")
            if isinstance(raw.get("question"), str) or fields & set(raw):
                raw = {**raw, "question": apply_template(
                    spec, str(raw.get("question", "")),
                    {k: v for k, v in raw.items() if k in fields}, where)}
            ex = example_from_record(raw, plain, where, i)
            if spec.builtin:  # the built-in tasks' records carry no answer format
                ex = ex.model_copy(update={"meta": {}, "source": "file"})
        if ex.id in seen:
            raise DataError(f"{where}: field 'id': duplicate id {ex.id!r} (first at "
                            f"{seen[ex.id]})")
        seen[ex.id] = where
        out.append(ex)
    return out
