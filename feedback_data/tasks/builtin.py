"""What only the two built-in tasks do: their questions, splits and shot pools.

StrategyQA and Sports Understanding keep the behaviour they had before tasks were specs, bit
for bit (tests/test_builtin_pins.py): questions from the BIG-bench task files fetched with
the data, the dev set = those in none of the paper's feedback files, 'train' = the paper's
train feedback questions, and shots from the train questions with a gold explanation
(StrategyQA: BIG-bench's; Sports: built from BIG-bench's vocabulary).
"""

from __future__ import annotations

from feedback_data.records.schema import Example

# Shots longer than this (question + explanation, characters) are skipped so that a 4-shot
# prompt stays within a small model's source length (~300 tokens for the tiny T5).
MAX_SHOT_CHARS = 220


def builtin_split(task: str, split: str) -> list[Example]:
    """'train' (the paper's train feedback questions, one per question), 'dev' (the dev set)
    or 'all' (every BIG-bench example, one per question)."""
    from feedback_data.sources.bigbench import load_bigbench, normalize_question
    from feedback_data.sources.paper_import import load_paper_feedback
    from feedback_data.sources.splits import dev_examples

    if split == "dev":
        pool = dev_examples(task)
    elif split == "train":
        pool = [i.example for i in load_paper_feedback(task, "train")]
    elif split == "all":
        pool = list(load_bigbench(task))
    else:
        raise ValueError(f"unknown split {split!r}: expected train, dev or all")
    seen: set[str] = set()
    out = []
    for ex in pool:
        key = normalize_question(task, ex.question)
        if key not in seen:
            seen.add(key)
            out.append(ex)
    return out


def builtin_shot_pool(task: str) -> tuple[Example, ...]:
    """Train-feedback questions with a gold explanation, in file order, one per question."""
    from feedback_data.sources.bigbench import load_bigbench, load_sports_vocab, normalize_question
    from feedback_data.sources.paper_import import load_paper_feedback
    from feedback_data.sources.sports_vocab import sports_explanation

    seen: set[str] = set()
    pool: list[Example] = []
    if task == "strategyqa":
        gold = {normalize_question(task, ex.question): ex for ex in load_bigbench(task)
                if ex.explanation}
    else:
        vocab = load_sports_vocab()
    for item in load_paper_feedback(task, "train"):
        key = normalize_question(task, item.example.question)
        if key in seen:
            continue
        seen.add(key)
        if task == "strategyqa":
            if key not in gold:
                continue
            ex = gold[key]
        else:
            statement = item.example.question.removesuffix("Is this sentence plausible?")
            explanation = sports_explanation(statement.strip(), vocab)
            if not explanation:
                continue
            ex = item.example.model_copy(update={"explanation": explanation})
        if len(ex.question) + len(ex.explanation) <= MAX_SHOT_CHARS:
            pool.append(ex)
    return tuple(pool)
