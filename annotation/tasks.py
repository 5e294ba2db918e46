"""Chains -> Label Studio task data, validated before anything is sent.

A task carries the whole Example and Chain (under ``rhf``) so a pulled annotation rebuilds
its FeedbackItem without looking anything up, plus the few keys the interface shows.
Label Studio rejects a whole import batch when one task lacks a key, hence the check here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from annotation import labeling_config as lc
from feedback_data.errors import DataError
from feedback_data.records.jsonl import describe_validation_error, read_records
from feedback_data.records.schema import Chain, Example
from feedback_data.text.answers import answer_text, format_of, letter, options_of
from feedback_data.text.chain_format import format_chain

CHAIN_ID = "chain_id"  # top-level key: how push recognises a chain already in the project
RHF = lc.DATA_RHF  # {"example": Example, "chain": Chain}
INTERFACE_KEYS = (lc.DATA_QUESTION, lc.DATA_CHAIN_DISPLAY, lc.DATA_MODEL_OUTPUT,
                  lc.DATA_STEP_CHOICES)
REQUIRED_KEYS = (CHAIN_ID, RHF, *INTERFACE_KEYS)
# Keys a task may also carry: per-step texts (absent from tasks pushed before step ratings),
# and the gold marker (quality control; never shown to annotators).
GOLD = "rhf_gold"
# The answer area's data, for a task that is not yes/no (see labeling_config.answer_area).
ANSWER_KEYS = (lc.DATA_ANSWER_OPTIONS, lc.DATA_MODEL_ANSWER)
OPTIONAL_KEYS = (lc.DATA_STEPS, GOLD, *ANSWER_KEYS)
KNOWN_KEYS = frozenset((*REQUIRED_KEYS, *OPTIONAL_KEYS))


def chain_display(chain: Chain) -> str:
    """The answer and numbered steps, one per line (shown with white-space: pre-wrap)."""
    lines = [f"Answer: {answer_text(chain.answer)}"]
    lines += [step_text(i, step) for i, step in enumerate(chain.steps, start=1)]
    return "\n".join(lines)


def step_text(n: int, step: str) -> str:
    """How step ``n`` (1-based) is shown: the same label as its error-step choice."""
    return f"{lc.step_choice(n)}: {step}"


def answer_data(chain: Chain, example: Example) -> dict[str, Any]:
    """The answer area's data and the correction's pre-fill for a task that is not yes/no
    (nothing for yes/no: its answer is the correction's, pre-filled with the chain).

    The correction is pre-filled with the chain in the form the task's parser reads ('The
    answer is B because ...'); a multiple-choice task lists its options, a free-form task's
    answer box starts from the model's answer.
    """
    fmt = format_of(example)
    if fmt.type == "yes_no":
        return {}
    out: dict[str, Any] = {}
    if chain.parsed and chain.answer is not None:
        out[lc.DATA_MODEL_OUTPUT] = format_chain(chain.answer, chain.steps)
    if fmt.type == "multiple_choice":
        options = options_of(example)
        if len(options) < 2:
            raise DataError(f"chain {chain.id}: a multiple-choice example without options")
        out[lc.DATA_ANSWER_OPTIONS] = [{"value": lc.answer_option(letter(i), o)}
                                       for i, o in enumerate(options)]
    else:
        out[lc.DATA_MODEL_ANSWER] = chain.answer or ""
    return out


def task_data(chain: Chain, example: Example) -> dict[str, Any]:
    """The data of one Label Studio task for ``chain``."""
    if not chain.steps:
        raise DataError(f"chain {chain.id}: no steps to review")
    if example.id != chain.example_id:
        raise DataError(f"chain {chain.id}: example id {example.id} != {chain.example_id}")
    return {
        CHAIN_ID: chain.id,
        lc.DATA_QUESTION: chain.question,
        lc.DATA_CHAIN_DISPLAY: chain_display(chain),
        lc.DATA_MODEL_OUTPUT: chain.text,
        lc.DATA_STEP_CHOICES: [{"value": lc.step_choice(i)}
                               for i in range(1, len(chain.steps) + 1)],
        lc.DATA_STEPS: [{"text": step_text(i, s)} for i, s in enumerate(chain.steps, start=1)],
        RHF: {"example": example.model_dump(mode="json"), "chain": chain.model_dump(mode="json")},
        **answer_data(chain, example),
    }


def validate_task_data(data: Any, where: str) -> tuple[Example, Chain]:
    """Check one task's data; return its Example and Chain. Errors name ``where`` and the key."""
    if not isinstance(data, Mapping):
        raise DataError(f"{where}: task data is not an object")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        unknown = sorted(set(data) - KNOWN_KEYS)
        if unknown:
            raise DataError(
                f"{where}: not an rhf task (an export from a different labeling config?): "
                f"unknown fields {', '.join(map(repr, unknown))}; "
                f"missing {', '.join(map(repr, missing))}")
        raise DataError(f"{where}: task data lacks '{missing[0]}'")
    rhf = data[RHF]
    if not isinstance(rhf, Mapping) or "example" not in rhf or "chain" not in rhf:
        raise DataError(f"{where}: task data '{RHF}' must hold 'example' and 'chain'")
    try:
        example = Example.model_validate(rhf["example"])
        chain = Chain.model_validate(rhf["chain"])
    except ValidationError as exc:
        raise DataError(f"{where}: task data '{RHF}': {describe_validation_error(exc)}") from exc
    if data[CHAIN_ID] != chain.id:
        raise DataError(f"{where}: task data '{CHAIN_ID}' {data[CHAIN_ID]!r} != chain {chain.id!r}")
    for key in (lc.DATA_STEP_CHOICES, lc.DATA_STEPS):
        if key in data and (not isinstance(data[key], list) or len(data[key]) != len(chain.steps)):
            raise DataError(f"{where}: task data '{key}' does not match the steps")
    return example, chain


def build_tasks(chains: Iterable[Chain], examples: Mapping[str, Example]) -> list[dict[str, Any]]:
    """Task data for each chain; a chain whose example is unknown is an error (nothing sent)."""
    out = []
    for chain in chains:
        example = examples.get(chain.example_id)
        if example is None:
            raise DataError(f"chain {chain.id}: example {chain.example_id} not found")
        data = task_data(chain, example)
        validate_task_data(data, f"chain {chain.id}")
        out.append(data)
    return out


def import_tasks(chains: Iterable[Chain], task: str,
                 examples: Mapping[str, Example] | None = None,
                 pilot: int | None = None) -> list[dict[str, Any]]:
    """Import-ready tasks (``[{"data": ...}]``, as the import API takes them) for the chains of
    ``task``, one per chain id, the examples the task's own data when not given."""
    unique = list({c.id: c for c in chains}.values())[:pilot]
    other = next((c for c in unique if c.task != task), None)
    if other is not None:
        raise DataError(f"chain {other.id}: of task {other.task!r}, not {task!r} (--task)")
    if not unique:
        raise DataError("no chains to write")
    found = known_examples([task]) if examples is None else examples
    return [{"data": t} for t in build_tasks(unique, found)]


def write_import_file(path: str | Path, chains: Iterable[Chain], task: str,
                      examples: Mapping[str, Example] | None = None,
                      pilot: int | None = None) -> int:
    """Write :func:`import_tasks` to ``path`` (atomically: a temp file, then renamed); the
    number of tasks."""
    from feedback_data.files.io import write_json

    tasks = import_tasks(chains, task, examples, pilot)
    write_json(path, tasks)
    return len(tasks)


def read_chains(path: str | Path) -> list[Chain]:
    """Chains from a JSONL file of Chain records (missing fields are rejected by line)."""
    return read_records(path, Chain)


def paper_chains(task: str, split: str = "train", limit: int | None = None
                 ) -> tuple[list[Chain], dict[str, Example]]:
    """The chains and examples of the imported paper data (for pilots and demos)."""
    from feedback_data.sources.paper_import import load_paper_feedback

    items = load_paper_feedback(task, split)
    chains: dict[str, Chain] = {}
    examples: dict[str, Example] = {}
    for item in items:
        if item.chain.id in chains or not item.chain.steps:
            continue
        chains[item.chain.id] = item.chain
        examples[item.example.id] = item.example
        if limit is not None and len(chains) >= limit:
            break
    return list(chains.values()), examples


def known_examples(tasks: Iterable[str]) -> dict[str, Example]:
    """Examples by id: a built-in task's from BIG-bench and the imported paper data (paper
    entries win), any other task's from its spec's data."""
    from feedback_data.sources.bigbench import load_bigbench
    from feedback_data.sources.paper_import import PAPER_SPLITS, load_paper_feedback
    from feedback_data.tasks.data import split_examples
    from feedback_data.tasks.registry import get_task

    wanted = set(tasks)
    out: dict[str, Example] = {}
    for task in wanted:
        if get_task(task).builtin:
            out.update({e.id: e for e in load_bigbench(task)})
        else:
            out.update({e.id: e for e in split_examples(task, "all")})
    for task, split in PAPER_SPLITS:
        if task in wanted:
            out.update({i.example.id: i.example for i in load_paper_feedback(task, split)})
    return out
