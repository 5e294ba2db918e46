"""k-shot chain-of-thought prompts and the k-shot error-detection prompt (pure functions).

Shots come from a task's shot pool (feedback_data.tasks.data.shot_pool), never from its dev
set. For the built-in tasks that is the paper's TRAIN feedback questions: StrategyQA shots
carry BIG-bench's gold explanation of the same question, Sports shots the explanation built
from BIG-bench's vocabulary; a spec's shots come from its data or a file. Every chain is
written in the one format
:func:`feedback_data.text.chain_format.format_chain` emits and ``parse_chain`` reads.

    Q: <question>
    A: The answer is yes because <explanation>

    Q: <question>
    A:
"""

from __future__ import annotations

import random

from feedback_data.records.schema import Example, FeedbackItem, stable_id
from feedback_data.tasks.builtin import MAX_SHOT_CHARS  # noqa: F401  (where it lived)
from feedback_data.text.chain_format import format_chain
from feedback_data.text.instructions import error_types_text

DETECTION_HEADER = "Which errors does the answer to the question contain?"


def check_task(task: str) -> str:
    """The task's name; an unknown name (or a bad task file) is one error naming the known."""
    from feedback_data.tasks.registry import get_task

    return get_task(task).name


def shot_text(shot: Example) -> str:
    """One rendered shot: 'Q: <question>\\nA: The answer is <answer> because <explanation>'."""
    return f"Q: {shot.question}\nA: {format_chain(shot.answer, shot.explanation)}"


def cot_prompt(task: str, question: str, shots: list[Example]) -> str:
    """The k-shot CoT prompt: the shots, a blank line between each, then 'Q: <question>\\nA:'
    (headed by the task's instruction line when its shots come from a CoT prompt file).

    >>> cot_prompt("strategyqa", "Is water wet?", [])
    'Q: Is water wet?\\nA:'
    """
    from feedback_data.tasks.data import instruction

    check_task(task)
    head = instruction(task) if shots else ""
    parts = ([head] if head else []) + [shot_text(s) for s in shots]
    parts.append(f"Q: {question.strip()}\nA:")
    return "\n\n".join(parts)


def prompt_id(task: str, shots: list[Example]) -> str:
    """A stable id of the prompt template: task, k and which shots."""
    return f"cot-{task}-k{len(shots)}-{stable_id(*[s.id for s in shots], n=8)}"


def shot_pool(task: str) -> tuple[Example, ...]:
    """The examples a task's shots are drawn from (feedback_data.tasks.data.shot_pool): for
    the built-in tasks, train-feedback questions with a gold explanation, in file order."""
    from feedback_data.tasks.data import shot_pool as pool_of

    return pool_of(task)


def default_shots(task: str, k: int, seed: int = 0) -> list[Example]:
    """k shots from the task's shot pool; for a yes/no task alternating yes and no answers
    (yes first), for the other answer types in the pool's order.

    Seed 0 takes the first shots in file order (the canonical prompt); another seed draws
    them at random from the pool, so seeds vary the prompt as in the paper's ICL runs.
    """
    from feedback_data.tasks.registry import get_task

    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if k == 0:
        return []
    from feedback_data.tasks.data import too_few_shots

    spec = get_task(task)
    pool = list(shot_pool(task))
    if len(pool) < k:
        raise ValueError(too_few_shots(spec, len(pool), k))
    if seed != 0:
        random.Random(seed).shuffle(pool)
    if spec.answer_type != "yes_no":
        return pool[:k]
    by_answer = {a: [ex for ex in pool if ex.answer == a] for a in ("yes", "no")}
    shots: list[Example] = []
    for i in range(k):
        want = "yes" if i % 2 == 0 else "no"
        bucket = by_answer[want] or by_answer["no" if want == "yes" else "yes"]
        shots.append(bucket.pop(0))
    return shots


def detection_block(question: str, chain: str, label: str | None = None) -> str:
    tail = f" {label}" if label is not None else ""
    return f"Question: {question.strip()}\nAnswer: {chain.strip()}\nErrors:{tail}"


def detection_prompt(question: str, chain: str, shots: list[FeedbackItem]) -> str:
    """The k-shot error-detection prompt for a base model (the ICL calibration baseline).

    Labels use the fine-tuned model's target words ('no error', 'missing facts', ...), so
    the same label probabilities score both.
    """
    parts = [DETECTION_HEADER]
    parts += [detection_block(s.example.question, s.chain.text,
                              error_types_text(list(s.feedback.error_types))) for s in shots]
    parts.append(detection_block(question, chain))
    return "\n\n".join(parts)


def detection_shots(items: list[FeedbackItem], k: int = 4) -> list[FeedbackItem]:
    """k detection shots: the shortest records, alternating error / no error.

    The evaluation takes them from the paper's StrategyQA training feedback, so that the ICL
    baseline scores every calibration record (eval.calibration.icl_shots).
    """
    ranked = sorted(items, key=lambda i: (len(i.example.question) + len(i.chain.text),
                                          i.feedback.id))
    clean = [i for i in ranked if not i.feedback.error_types]
    flawed = [i for i in ranked if i.feedback.error_types]
    shots = []
    for j in range(k):
        bucket = flawed if j % 2 == 0 else clean
        bucket = bucket or flawed or clean
        if not bucket:
            break
        shots.append(bucket.pop(0))
    return shots
