"""Tasks in their published formats, read as they are shipped (pure parsers over a file's text
or parsed JSON; every error is one line naming the file and the record or line).

- A BIG-bench ``task.json``: ``{"task_prefix"?, "example_input_prefix"?, "examples": [{"input",
  "target" | "target_scores"}]}``. :func:`parse_bigbench_task` checks it;
  :func:`bigbench_template` turns its prefixes into a question template (``{input}``).
- A BIG-Bench Hard task file: ``{"examples": [{"input", "target"}]}``, a multiple-choice input
  ending with ``Options:`` and one ``(A) ...`` line per option (:func:`parse_bbh_task`,
  :func:`split_options`).
- A chain-of-thought prompt ``.txt`` (BBH's ``cot-prompts``): an instruction line, then blocks
  ``Q: <question>`` / ``A: <reasoning> So the answer is <X>.`` separated by blank lines
  (:func:`parse_cot_prompt`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feedback_data.errors import DataError
from feedback_data.files.io import NotUtf8, read_utf8

BIGBENCH_FILE = "task.json"


@dataclass(frozen=True)
class BigbenchTask:
    """A BIG-bench task.json: its examples (raw records) and the prefixes of its questions."""

    examples: tuple[dict[str, Any], ...]
    task_prefix: str = ""
    example_input_prefix: str = ""


@dataclass(frozen=True)
class PromptShot:
    """One ``Q:``/``A:`` block of a CoT prompt file."""

    line: int
    question: str
    options: tuple[str, ...]
    answer: str
    explanation: str


@dataclass(frozen=True)
class CotPrompt:
    """A CoT prompt file: the instruction line(s) at its top and its shots."""

    instruction: str
    shots: tuple[PromptShot, ...]


def bigbench_task_path(value: str | Path) -> Path:
    """The task.json of a BIG-bench file path: the file itself, or ``FOLDER/task.json``."""
    path = Path(value)
    return path / BIGBENCH_FILE if path.is_dir() else path


def _text(path: Path) -> str:
    try:
        return read_utf8(path)
    except NotUtf8 as exc:
        raise DataError(str(exc)) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_json(path: Path) -> Any:
    """The parsed JSON of ``path``; an unreadable, non-UTF-8 or invalid file is one
    DataError naming it."""
    text = _text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None


def _prefix(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise DataError(f"{where}: field '{key}': expected a string")
    return value


def _examples(data: Any, where: str, fmt: str) -> list[Any]:
    examples = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(examples, list) or not examples:
        raise DataError(f"{where}: no 'examples' list (a {fmt} task file has "
                        '{"examples": [...]}; a BIG-bench task split into subtasks: give the '
                        "subtask's task.json)")
    return examples


def parse_bigbench_task(data: Any, where: str) -> BigbenchTask:
    """A BIG-bench task.json's parsed JSON, checked: each example an object with a string
    ``input`` and a ``target`` or ``target_scores``."""
    examples = _examples(data, where, "BIG-bench")
    for i, ex in enumerate(examples):
        if not isinstance(ex, dict):
            raise DataError(f"{where}: example {i}: expected an object")
        if not isinstance(ex.get("input"), str):
            raise DataError(f"{where}: example {i}: field 'input': missing or not a string")
        if "target" not in ex and "target_scores" not in ex:
            raise DataError(f"{where}: example {i}: missing field 'target' or "
                            "'target_scores'")
    return BigbenchTask(tuple(examples), _prefix(data, "task_prefix", where),
                        _prefix(data, "example_input_prefix", where))


def _joined(left: str, right: str) -> str:
    """``left + right`` with a space where neither side has one ('point?' + 'Take' ->
    'point? Take')."""
    if left and right and not left[-1].isspace() and not right[0].isspace():
        return f"{left} {right}"
    return left + right


def bigbench_template(task: BigbenchTask) -> str | None:
    """The question template a task.json's prefixes make: ``task_prefix``, then
    ``example_input_prefix``, then ``{input}`` (None when it has neither prefix).

    >>> bigbench_template(BigbenchTask((), "Sort the words.\\n", "\\nList: "))
    'Sort the words.\\n\\nList: {input}'
    """
    if not task.task_prefix.strip() and not task.example_input_prefix.strip():
        return None
    head = _joined(task.task_prefix, task.example_input_prefix)
    return _joined(head.replace("{", "{{").replace("}", "}}"), "{input}")


def parse_bbh_task(data: Any, where: str) -> list[dict[str, Any]]:
    """A BIG-Bench Hard task file's parsed JSON, checked: ``input`` and ``target`` strings."""
    examples = _examples(data, where, "BIG-Bench Hard")
    for i, ex in enumerate(examples):
        if not isinstance(ex, dict):
            raise DataError(f"{where}: example {i}: expected an object")
        for key in ("input", "target"):
            if not isinstance(ex.get(key), str):
                raise DataError(f"{where}: example {i}: field '{key}': missing or not a "
                                "string")
    return examples


_OPTION_LINE = re.compile(r"^\(([A-Z])\)\s*(.*)$")


def split_options(text: str) -> tuple[str, list[str]]:
    """(question, options) of a BBH multiple-choice input: the text before its ``Options:``
    line, and the text of each ``(A) ...`` line after it ([] when there is none)."""
    lines = text.strip().splitlines()
    for k in range(len(lines) - 1, -1, -1):
        if lines[k].strip() == "Options:":
            options = []
            for j, line in enumerate(lines[k + 1:]):
                match = _OPTION_LINE.match(line.strip())
                if match is None or match.group(1) != chr(65 + j):
                    return text.strip(), []
                options.append(match.group(2).strip())
            return "\n".join(lines[:k]).strip(), options
    return text.strip(), []


_ANSWER_IS = re.compile(r"answer\s+is\s*:?\s*", re.IGNORECASE)
_THINK = re.compile(r"^\s*let'?s think step by step\.?\s*", re.IGNORECASE)
_LEAD_IN = re.compile(r"[\s,;:]*\b(so|thus|therefore|hence)\b[\s,]*$", re.IGNORECASE)


def _shot(lines: list[str], start: int, where: str) -> PromptShot:
    text = "\n".join(lines)
    q_at = text.find("Q:")
    a_match = re.search(r"^A:", text, re.MULTILINE)
    if q_at != 0 or a_match is None:
        raise DataError(f"{where}:{start}: expected a block 'Q: <question>' then 'A: "
                        "<reasoning> So the answer is <answer>.'")
    question, options = split_options(text[2:a_match.start()])
    reasoning = text[a_match.end():].strip()
    found = list(_ANSWER_IS.finditer(reasoning))
    if not found:
        raise DataError(f"{where}:{start}: the shot's answer has no 'the answer is <answer>'")
    last = found[-1]
    answer = reasoning[last.end():].strip().rstrip(".").strip()
    before = reasoning[:last.start()]
    before = re.sub(r"\bthe\s*$", "", before, flags=re.IGNORECASE)
    explanation = " ".join(_LEAD_IN.sub("", _THINK.sub("", before)).split())
    if not question or not answer:
        raise DataError(f"{where}:{start}: the shot has an empty question or answer")
    if not explanation:
        raise DataError(f"{where}:{start}: the shot has no reasoning before its answer")
    return PromptShot(start, " ".join(question.split()), tuple(" ".join(o.split())
                                                              for o in options),
                      answer, explanation)


def parse_cot_prompt(text: str, where: str) -> CotPrompt:
    """A CoT prompt file's text: the lines before the first ``Q:`` are the instruction (lines
    of only dashes, BBH's separators, are left out), each ``Q:`` block one shot."""
    lines = text.splitlines()
    instruction: list[str] = []
    blocks: list[tuple[int, list[str]]] = []
    for n, line in enumerate(lines, start=1):
        if line.startswith("Q:"):
            blocks.append((n, [line]))
        elif blocks:
            blocks[-1][1].append(line)
        elif line.strip() and not re.fullmatch(r"-+", line.strip()):
            instruction.append(line.strip())
    if not blocks:
        raise DataError(f"{where}: no 'Q: ... A: ...' shots (a CoT prompt file: an "
                        "instruction line, then blocks 'Q: <question>' / 'A: <reasoning> So "
                        "the answer is <answer>.')")
    shots = tuple(_shot([ln for ln in block], start, where) for start, block in blocks)
    return CotPrompt(" ".join(instruction), shots)


def read_cot_prompt(path: Path) -> CotPrompt:
    """The CoT prompt file at ``path``."""
    return parse_cot_prompt(_text(path), str(path))
