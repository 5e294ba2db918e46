"""BIG-bench StrategyQA and Sports Understanding as typed Examples (from the fetched cache).

Examples come in example-id order, never file order, so that every faithful copy of the data
(BIG-bench's file, StrategyQA's release, a local folder) gives the same dev set, shot draws,
prompts and numbers (feedback_data.sources.task_sources)."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from feedback_data.errors import DataError
from feedback_data.files import paths
from feedback_data.records.schema import Example, stable_id
from feedback_data.sources.task_sources import example_digest, ordered_examples

SPORTS_SUFFIX = "Is this sentence plausible?"


def normalize_question(task: str, text: str) -> str:
    """Lower-case alphanumerics only; Sports Understanding drops the plausibility suffix."""
    norm = " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())
    if task == "sports_understanding":
        norm = norm.removesuffix("is this sentence plausible").strip()
    return norm


def example_id(task: str, question: str) -> str:
    return f"{task}/{stable_id(normalize_question(task, question), n=12)}"


def sports_question(statement: str) -> str:
    statement = statement.strip().rstrip(".")
    return f"{statement}. {SPORTS_SUFFIX}"


def _load_task_json(rel: str) -> dict:
    from feedback_data.sources.fetch import FetchError, fetch_task

    path = paths.bigbench_dir() / rel
    if not path.exists():
        try:
            fetch_task(rel.split("/")[0], log=lambda _m: None)
        except FetchError as exc:
            raise DataError(str(exc)) from None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON ({exc.msg})") from exc


def _yes_no(scores: dict[str, int], where: str) -> str:
    lowered = {k.lower(): v for k, v in scores.items()}
    if lowered.get("yes") == 1 or lowered.get("plausible") == 1:
        return "yes"
    if lowered.get("no") == 1 or lowered.get("implausible") == 1:
        return "no"
    raise DataError(f"{where}: target_scores has no yes/no answer: {scores}")


@lru_cache(maxsize=4)
def load_bigbench(task: str) -> tuple[Example, ...]:
    """All BIG-bench examples of ``task`` by example id (then content digest): the same order
    from any faithful copy; distinct examples that share a question are all kept."""
    rel = "strategyqa/task.json" if task == "strategyqa" else "sports_understanding/task.json"
    data = _load_task_json(rel)
    out = []
    for i, raw in enumerate(ordered_examples(data.get("examples", []))):
        where = f"{paths.bigbench_dir() / rel}: example {i}"
        try:
            answer = _yes_no(raw["target_scores"], where)
            if task == "strategyqa":
                question = raw["input"].strip()
                target = raw.get("target", "")
                explanation = re.sub(r"^\s*(yes|no)\s*[.,:]?\s*", "", target, flags=re.I).strip()
            else:
                question = sports_question(raw["input"])
                explanation = ""
        except KeyError as exc:
            raise DataError(f"{where}: missing field {exc.args[0]!r}") from exc
        out.append(Example(id=example_id(task, question), task=task, question=question,
                           answer=answer, explanation=explanation, source="bigbench",
                           meta={"digest": example_digest(raw)}))
    return tuple(sorted(out, key=lambda e: (e.id, e.meta["digest"])))


@lru_cache(maxsize=1)
def load_sports_vocab() -> dict:
    return _load_task_json("sports_understanding/vocab.json")


def vocab_path() -> Path:
    return paths.bigbench_dir() / "sports_understanding/vocab.json"
