"""A task's questions, splits and shot pool, for any spec (the built-in ones keep theirs).

Splits of a spec read from data: 'dev' is the ``dev_fraction`` of the questions chosen by a
hash of their id (the same question always on the same side, whatever else the file holds),
'train' the rest, 'all' every question.
"""

from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Any

from feedback_data.errors import DataError
from feedback_data.records.schema import Example, stable_id
from feedback_data.sources.bigbench import normalize_question
from feedback_data.tasks.builtin import builtin_shot_pool, builtin_split
from feedback_data.tasks.loaders import (
    LoadReport,
    apply_template,
    load_examples,
    load_prompt_shots,
    load_shot_file,
    prompt_instruction,
)
from feedback_data.tasks.registry import get_task
from feedback_data.tasks.spec import TaskSpec

SPLITS = ("train", "dev", "all")


@lru_cache(maxsize=16)
def _loaded(spec: TaskSpec) -> tuple[tuple[Example, ...], LoadReport]:
    examples, report = load_examples(spec)
    return tuple(examples), report


def load_report(task: str | TaskSpec) -> LoadReport:
    spec = get_task(task)
    return LoadReport() if spec.builtin else _loaded(spec)[1]


def is_dev(example_id: str, fraction: float) -> bool:
    """Whether a question is in the dev set: a hash of its id (without the task's name, so
    a renamed task keeps its split) against ``fraction``."""
    key = example_id.split("/", 1)[-1]
    return int(stable_id("dev", key, n=8), 16) % 10_000 < round(fraction * 10_000)


def split_examples(task: str | TaskSpec, split: str, limit: int | None = None
                   ) -> list[Example]:
    """The questions of ``split`` (train, dev or all), in file order, one per question."""
    spec = get_task(task)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected train, dev or all")
    if spec.builtin:
        out = builtin_split(spec.name, split)
    else:
        every = list(_loaded(spec)[0])
        out = every if split == "all" else [
            e for e in every if is_dev(e.id, spec.dev_fraction) == (split == "dev")]
    return out[:limit] if limit is not None else out


def dev_set(task: str | TaskSpec) -> list[Example]:
    """The questions accuracy is reported on."""
    return split_examples(task, "dev")


@lru_cache(maxsize=16)
def _shot_pool(spec: TaskSpec) -> tuple[Example, ...]:
    if spec.builtin:
        return builtin_shot_pool(spec.name)
    if spec.shots.source == "none":
        return ()
    if spec.shots.source == "data":
        return tuple(e for e in split_examples(spec, "train")
                     if e.explanation and e.answer is not None)
    assert spec.shots.file is not None
    shots = (load_prompt_shots(spec, spec.shots.file) if spec.shots.source == "prompt"
             else load_shot_file(spec, spec.shots.file))
    dev = {normalize_question(spec.name, e.question) for e in dev_set(spec)}
    for i, shot in enumerate(shots):
        if normalize_question(spec.name, shot.question) in dev:
            raise DataError(f"{spec.shots.file}: shot {i + 1} is a dev question (shots must "
                            "never be evaluated on)")
    return tuple(shots)


def shot_pool(task: str | TaskSpec) -> tuple[Example, ...]:
    """The examples CoT shots are drawn from (never dev questions)."""
    return _shot_pool(get_task(task))


def too_few_shots(spec: TaskSpec, available: int, k: int) -> str:
    """The one-line error for asking ``k`` shots of a pool of ``available``: it names the task
    file and the fix."""
    fix = f"give --k {available}" if available else "give --k 0"
    where = f"{spec.where()}: " if spec.path else ""
    return (f"{where}only {available} shots available for {spec.name}, asked for {k} "
            f"({fix}, or more shots: shots: {{file: shots.jsonl}} or {{prompt: cot.txt}})")


@lru_cache(maxsize=16)
def _instruction(spec: TaskSpec) -> str:
    return "" if spec.builtin else prompt_instruction(spec)


def instruction(task: str | TaskSpec) -> str:
    """The line heading the task's k-shot prompts ('' when none: see prompt_instruction)."""
    return _instruction(get_task(task))


def task_summary(task: str | TaskSpec) -> dict[str, Any]:
    """What `rhf data stats --task` prints: sizes, answers, the majority class, the shots."""
    spec = get_task(task)
    every = split_examples(spec, "all")
    dev = dev_set(spec)
    answers = Counter(e.answer for e in dev if e.answer is not None)
    if spec.answer_type == "free_form":
        majority: dict[str, Any] = {"answer": None, "note": "n/a: free-form answers have no "
                                    "majority class"}
    elif answers:
        top = min(answers, key=lambda a: (-answers[a], a))
        majority = {"answer": top, "share": answers[top] / sum(answers.values())}
    else:
        majority = {"answer": None, "note": "no labelled dev questions"}
    report = load_report(spec)
    try:
        shots: Any = len(shot_pool(spec))
    except DataError as exc:
        shots = f"unavailable: {exc}"
    return {
        "name": spec.name, "title": spec.title, "answer_type": spec.answer_type,
        "loader": f"{spec.loader.kind}: {spec.loader.source}",
        "questions": len(every), "dev_size": len(dev),
        "train_size": len(split_examples(spec, "train")),
        "unlabelled": sum(e.answer is None for e in every),
        "duplicates_left_out": report.duplicates,
        "conflicting_left_out": report.conflicting, "conflicts": list(report.conflicts),
        "dev_answers": dict(sorted(answers.items(), key=lambda kv: (-kv[1], kv[0]))[:10]),
        "majority": majority, "shot_pool": shots, "problems": task_problems(spec),
    }


def task_problems(task: str | TaskSpec, k: int | None = None) -> list[str]:
    """Every problem of a task's shots, one line each ([] when there is none): a shots file
    that cannot be used (a dev question, a shot without an explanation, ...), and with ``k``
    a pool too small for k shots. A bad spec or bad data raises (SpecError, DataError)."""
    spec = get_task(task)
    split_examples(spec, "all")  # the data itself: raises on a bad record
    try:
        pool = shot_pool(spec)
    except DataError as exc:
        return [f"shots: {exc}"]
    problems = []
    if k is not None and len(pool) < k:
        problems.append(too_few_shots(spec, len(pool), k))
    if spec.shots.source == "prompt":
        instruction(spec)  # read with the shots above; kept for the prompt's head
    return problems


def question_example(task: str | TaskSpec, question: str, options: list[str] | None = None,
                     example_id: str = "api") -> Example:
    """An unlabelled Example of ``task`` for one question asked directly (the service), shown
    through the spec's question template as the task's own questions are.

    A multiple-choice question gets its ``options`` shown in the question and kept in meta
    (a question that already ends with 'Options: (A) ...' may leave them out).
    """
    from feedback_data.text.answers import (
        FORMAT_KEY,
        OPTIONS_KEY,
        options_from_question,
        render_options,
    )

    spec = get_task(task)
    question = apply_template(spec, question)
    if spec.builtin:
        if options:
            raise ValueError(f"task {spec.name} is yes/no: options do not apply")
        return Example(id=example_id, task=spec.name, question=question, source="user")
    meta: dict[str, Any] = {FORMAT_KEY: spec.answer_format.to_meta()}
    if spec.answer_type == "multiple_choice":
        if options:
            question = f"{question} {render_options(options)}"
        found = options_from_question(question)
        if len(found) < 2:
            raise ValueError(f"task {spec.name} is multiple choice: give the options")
        meta[OPTIONS_KEY] = found
    elif options:
        raise ValueError(f"task {spec.name} is {spec.answer_type}: options do not apply")
    return Example(id=example_id, task=spec.name, question=question, source="user", meta=meta)
