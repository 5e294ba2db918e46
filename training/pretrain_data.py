"""Gold chains for pre-training the tiny base model, from questions in no evaluation set.

StrategyQA: BIG-bench questions that appear in the paper's training feedback, with BIG-bench's
gold explanations. Sports Understanding: the same, with explanations built from vocab.json.
Dev and calibration questions are never used, so the base model's scores stay honest.
"""

from __future__ import annotations

from feedback_data.bigbench import load_bigbench, load_sports_vocab, normalize_question
from feedback_data.schema import Example
from feedback_data.splits import calibration_items, dev_examples
from feedback_data.sports_vocab import sports_explanation
from feedback_data.store import load_paper_feedback


def pretrain_examples(task: str) -> list[Example]:
    """Examples of ``task`` with a gold explanation, outside the dev and calibration sets."""
    held_out = {normalize_question(task, e.question) for e in dev_examples(task)}
    if task == "strategyqa":
        held_out |= {normalize_question(task, i.example.question) for i in calibration_items()}
    train_keys = {normalize_question(task, i.example.question)
                  for i in load_paper_feedback(task, "train")}
    vocab = load_sports_vocab() if task == "sports_understanding" else None
    seen: set[str] = set()
    out = []
    for ex in load_bigbench(task):
        key = normalize_question(task, ex.question)
        if key in held_out or key not in train_keys or key in seen:
            continue
        seen.add(key)
        if vocab is not None:
            statement = ex.question.rsplit(". Is this sentence plausible?", 1)[0]
            ex = ex.model_copy(update={"explanation": sports_explanation(statement, vocab)})
        if ex.explanation:
            out.append(ex)
    return out


def synthetic_sports_examples(n: int, seed: int = 0) -> list[Example]:
    """``n`` new Sports Understanding statements built from vocab.json (player + action).

    Half pair a player with an action of their own sport (plausible), half with another
    sport's. Statements whose normalised text is a dev question are never produced.
    """
    import random

    from feedback_data.bigbench import example_id, sports_question

    task = "sports_understanding"
    vocab = load_sports_vocab()
    players = [(p, s) for s, names in vocab["players"].items() for p in names]
    actions = vocab["player_actions"]
    held_out = {normalize_question(task, e.question) for e in dev_examples(task)}
    rng = random.Random(seed)
    out: list[Example] = []
    seen: set[str] = set()
    for _ in range(n * 20):
        if len(out) >= n:
            break
        player, sport = rng.choice(players)
        plausible = rng.random() < 0.5
        other = [s for s in actions if s != sport]
        action = rng.choice(actions[sport] if plausible else actions[rng.choice(other)])
        statement = f"{player} {action}"
        question = sports_question(statement)
        key = normalize_question(task, question)
        if key in held_out or key in seen:
            continue
        seen.add(key)
        explanation = sports_explanation(statement, vocab)
        if not explanation:
            continue
        out.append(Example(id=example_id(task, question), task=task, question=question,
                           answer="yes" if plausible else "no", explanation=explanation,
                           source="bigbench", meta={"synthetic": True}))
    return out
