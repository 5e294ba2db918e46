"""New Sports Understanding statements built from BIG-bench's vocab.json.

Sports Understanding is a closed world: vocab.json ties every player, action and game to one
sport, so new statements with known answers and gold explanations can be made at will. The
tiny base is pre-trained on them (:mod:`training.data.pretrain_data`) and validation uses a
disjoint set of them (:func:`feedback_data.sources.splits.sports_validation_statements`).
"""

from __future__ import annotations

import random
from collections.abc import Collection

from feedback_data.records.schema import Example
from feedback_data.sources.bigbench import (
    example_id,
    load_sports_vocab,
    normalize_question,
    sports_question,
)
from feedback_data.sources.sports_vocab import sports_explanation

SPORTS = "sports_understanding"


def synthetic_sports_examples(n: int, seed: int = 0, game_share: float = 0.2,
                              exclude: Collection[str] = ()) -> list[Example]:
    """``n`` new statements, none whose normalised question is in ``exclude``.

    Half pair a player with an action of their own sport (plausible), half with another
    sport's; a ``game_share`` of them add "in the <game>" of the action's sport, as BIG-bench
    does. The same (n, seed, game_share, exclude) always gives the same statements.
    """
    vocab = load_sports_vocab()
    players = [(p, s) for s, names in vocab["players"].items() for p in names]
    actions = vocab["player_actions"]
    games = vocab.get("games", {})
    rng = random.Random(seed)
    out: list[Example] = []
    seen: set[str] = set()
    for _ in range(n * 20):
        if len(out) >= n:
            break
        player, sport = rng.choice(players)
        plausible = rng.random() < 0.5
        action_sport = sport if plausible else rng.choice([s for s in actions if s != sport])
        statement = f"{player} {rng.choice(actions[action_sport])}"
        if games.get(action_sport) and rng.random() < game_share:
            statement += f" in the {rng.choice(games[action_sport])}"
        question = sports_question(statement)
        key = normalize_question(SPORTS, question)
        if key in exclude or key in seen:
            continue
        seen.add(key)
        explanation = sports_explanation(statement, vocab)
        if not explanation:
            continue
        out.append(Example(id=example_id(SPORTS, question), task=SPORTS, question=question,
                           answer="yes" if plausible else "no", explanation=explanation,
                           source="bigbench", meta={"synthetic": True}))
    return out
