"""Gold chains for pre-training the tiny base model, from questions in no evaluation set.

StrategyQA: BIG-bench questions that appear in the paper's training feedback, with BIG-bench's
gold explanations. Sports Understanding is a closed world (vocab.json ties every player,
action and game to one sport), so its chains are new statements built from vocab.json, in
the shapes BIG-bench uses (player + action, sometimes "in the <game>"). The BIG-bench
questions of the paper's Sports training file are kept out of pre-training: they are the
validation set the base is checked on (:func:`sports_validation_examples`). Dev and
calibration questions are never used, so the base model's scores stay honest.
"""

from __future__ import annotations

from feedback_data.records.schema import Example
from feedback_data.sources.bigbench import load_bigbench, load_sports_vocab, normalize_question
from feedback_data.sources.paper_import import load_paper_feedback
from feedback_data.sources.splits import calibration_items, dev_examples
from feedback_data.sources.sports_statements import synthetic_sports_examples as generate_statements
from feedback_data.sources.sports_vocab import sports_explanation

SPORTS = "sports_understanding"


def _with_sports_explanation(ex: Example, vocab: dict) -> Example:
    statement = ex.question.rsplit(". Is this sentence plausible?", 1)[0]
    return ex.model_copy(update={"explanation": sports_explanation(statement, vocab)})


def pretrain_examples(task: str) -> list[Example]:
    """Examples of ``task`` with a gold explanation from the paper's training questions.

    Never a dev or calibration question. For Sports these are the validation questions.
    """
    held_out = {normalize_question(task, e.question) for e in dev_examples(task)}
    if task == "strategyqa":
        held_out |= {normalize_question(task, i.example.question) for i in calibration_items()}
    train_keys = {normalize_question(task, i.example.question)
                  for i in load_paper_feedback(task, "train")}
    vocab = load_sports_vocab() if task == SPORTS else None
    seen: set[str] = set()
    out = []
    for ex in load_bigbench(task):
        key = normalize_question(task, ex.question)
        if key in held_out or key not in train_keys or key in seen:
            continue
        seen.add(key)
        if vocab is not None:
            ex = _with_sports_explanation(ex, vocab)
        if ex.explanation:
            out.append(ex)
    return out


def sports_validation_examples() -> list[Example]:
    """The BIG-bench Sports questions of the paper's training file: checked, never trained on."""
    return pretrain_examples(SPORTS)


def synthetic_sports_examples(n: int, seed: int = 0, game_share: float = 0.2) -> list[Example]:
    """``n`` new Sports statements built from vocab.json
    (:func:`feedback_data.sources.sports_statements.synthetic_sports_examples`), none a dev or
    validation question."""
    held_out = {normalize_question(SPORTS, e.question)
                for e in [*dev_examples(SPORTS), *sports_validation_examples()]}
    return generate_statements(n, seed=seed, game_share=game_share, exclude=held_out)
