"""An annotator bot: feedback derived from gold data, submitted through the Label Studio API.

StrategyQA uses the gold facts and decomposition; Sports Understanding uses BIG-bench's
vocab.json (players and actions mapped to sports). Each bot is a dedicated Label Studio user
and also fills the hidden ``origin`` field, so its records always carry source=simulated.
``noise`` makes bots disagree now and then, which pilots and agreement tests need.
"""

from __future__ import annotations

import random
import re
from typing import Any

from tqdm import tqdm

from annotation import labeling_config as lc
from annotation.client import LabelStudioClient
from annotation.convert import simulator_email
from annotation.tasks import validate_task_data
from feedback_data.records.schema import ERROR_CODES, ERROR_NAMES, Chain, Example
from feedback_data.text.answers import format_of, options_of
from feedback_data.text.chain_format import format_chain, split_steps

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("a an the is are was were of in on to and or be by for it its as at that this "
                  "with from because answer yes no not".split())


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def gold_explanation(example: Example, vocab: dict | None = None) -> str:
    """The example's gold explanation; for sports, derived from vocab.json when missing."""
    if example.explanation.strip():
        return example.explanation.strip()
    if example.task == "sports_understanding" and vocab:
        from feedback_data.sources.sports_vocab import sports_explanation

        statement = example.meta.get("input") or example.question
        return sports_explanation(statement, vocab)
    return ""


def supported(step: str, gold: str, threshold: float = 0.5) -> bool:
    """A step is supported when most of its content words appear in the gold explanation."""
    words = _content_words(step)
    return not words or len(words & _content_words(gold)) / len(words) >= threshold


def simulated_result(example: Example, chain: Chain, rng: random.Random, noise: float = 0.0,
                     vocab: dict | None = None) -> list[dict[str, Any]]:
    """The result list a bot submits for ``chain`` (same shape the web UI saves).

    An unlabelled question (no gold answer) is judged on its chain alone: a readable answer
    is kept as the right one; an unreadable one is a logical inconsistency.
    """
    gold = gold_explanation(example, vocab)
    bad_steps = [i for i, s in enumerate(chain.steps, start=1) if gold and not supported(s, gold)]
    types: list[str] = []
    right = example.answer if example.answer is not None else chain.answer
    if chain.answer != right or right is None:
        types.append("FE" if bad_steps else "LI")
        if not bad_steps and chain.steps:
            bad_steps = [len(chain.steps)]
    elif bad_steps:
        types.append("IR")
    if rng.random() < noise and chain.steps:  # a differing judgement
        if types:
            types, bad_steps = [], []
        else:
            types = [rng.choice(ERROR_CODES)]
            bad_steps = [rng.randint(1, len(chain.steps))]
    correction = (format_chain(right, split_steps(gold) or chain.steps) if right is not None
                  else chain.text)
    ratings = ["wrong" if i in bad_steps else "correct" for i in range(1, len(chain.steps) + 1)]
    result = [
        *lc.rating_items(ratings),
        lc.result_item(lc.CORRECTION, correction),
        lc.result_item(lc.ERROR_TYPES, [ERROR_NAMES[t] for t in types] or [lc.NO_ERROR]),
        lc.result_item(lc.ORIGIN, lc.SIMULATED_MARK),
        *answer_area_items(example, right),
    ]
    if bad_steps:
        result.append(lc.result_item(lc.ERROR_STEPS, [lc.step_choice(n) for n in bad_steps]))
    steps_named = ", ".join(lc.step_choice(n) for n in bad_steps) or "the explanation"
    for code in types:
        result.append(lc.result_item(
            lc.REASONS[code], f"{steps_named}: {ERROR_NAMES[code].lower()} (gold: {gold})"))
    subquestions = example.meta.get("decomposition") or []
    if subquestions:
        result.append(lc.result_item(lc.SUBQUESTIONS, "\n".join(map(str, subquestions))))
    return result


def answer_area_items(example: Example, answer: str | None) -> list[dict[str, Any]]:
    """The answer area's result for ``answer`` (nothing for a yes/no task or no answer)."""
    fmt = format_of(example)
    if answer is None or fmt.type == "yes_no":
        return []
    if fmt.type == "multiple_choice":
        index = ord(answer) - ord("A")
        return [lc.result_item(lc.ANSWER_CHOICE,
                               [lc.answer_option(answer, options_of(example)[index])])]
    return [lc.result_item(lc.ANSWER_TEXT, answer)]


def simulate_annotations(client: LabelStudioClient, project_id: int, annotators: int = 1,
                         noise: float = 0.0, seed: int = 0, limit: int | None = None,
                         progress: bool = True) -> int:
    """Each of ``annotators`` bots annotates every task it has not annotated yet; returns count."""
    vocab = _sports_vocab()
    bots = [client.ensure_user(simulator_email(k), "rhf", f"simulator {k}")
            for k in range(1, annotators + 1)]
    done = {(t["id"], a.get("completed_by")) for t in client.export(project_id)
            for a in t.get("annotations", [])}
    tasks = list(client.iter_tasks(project_id))
    if limit is not None:
        tasks = tasks[:limit]
    created = 0
    todo = [(t, bot) for t in tasks for bot in bots if (t["id"], bot) not in done]
    for task, bot in tqdm(todo, desc="simulate", unit="annotation", disable=not progress):
        example, chain = validate_task_data(task.get("data"), f"task {task['id']}")
        rng = random.Random(f"{seed}/{bot}/{chain.id}")
        client.create_annotation(task["id"], simulated_result(example, chain, rng, noise, vocab),
                                 completed_by=bot)
        created += 1
    return created


def _sports_vocab() -> dict | None:
    from feedback_data.sources.bigbench import load_sports_vocab

    try:
        return load_sports_vocab()
    except (OSError, ValueError):  # only sports tasks need it: say so there, not here
        return None
