"""Gold explanations for Sports Understanding from BIG-bench's vocab.json.

vocab.json maps sports to players, actions and games; a statement is plausible when its
player and its action (or event) belong to the same sport.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SportsFacts:
    player: str | None
    player_sport: str | None
    action: str | None
    action_sport: str | None

    @property
    def consistent(self) -> bool | None:
        if self.player_sport is None or self.action_sport is None:
            return None
        return self.player_sport == self.action_sport


def _longest_match(text: str, table: dict[str, list[str]]) -> tuple[str | None, str | None]:
    lowered = text.lower()
    best: tuple[str | None, str | None] = (None, None)
    for sport, names in table.items():
        for name in names:
            if name.lower() in lowered and (best[0] is None or len(name) > len(best[0])):
                best = (name, sport)
    return best


def sports_facts(statement: str, vocab: dict) -> SportsFacts:
    """Find the player and the action (or game) in ``statement`` and their sports."""
    player, player_sport = _longest_match(statement, vocab.get("players", {}))
    rest = statement.replace(player, " ") if player else statement
    action, action_sport = _longest_match(rest, vocab.get("player_actions", {}))
    if action is None:
        action, action_sport = _longest_match(rest, vocab.get("games", {}))
    return SportsFacts(player, player_sport, action, action_sport)


_SPORT_NAMES = {"football": "American football", "hockey": "ice hockey"}


def sport_name(sport: str) -> str:
    return _SPORT_NAMES.get(sport, sport)


def sports_explanation(statement: str, vocab: dict) -> str:
    """A short gold explanation; empty when the vocabulary does not cover the statement."""
    facts = sports_facts(statement, vocab)
    if facts.player is None or facts.action is None:
        return ""
    sport = sport_name(facts.player_sport or "")
    article = "an" if sport[:1].lower() in "aeiou" else "a"
    first = f"{facts.player} is {article} {sport} player."
    second = f"The phrase \"{facts.action}\" belongs to {sport_name(facts.action_sport or '')}."
    return f"{first} {second}"
