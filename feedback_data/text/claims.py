"""What a chain claims, read so that two chains for one question can be compared: the
verification signal of the critic (``inference/combined_critic.py``) checks the chain under review
against chains the answering model writes for the same question on its own, after
Chain-of-Verification (Dhuliawala et al., 2023), without ever seeing the reviewed chain.

A task's spec names its claim reader (``claims:`` in the task YAML, :data:`CLAIM_READERS`):

- ``sport_slots`` (Sports Understanding): the sport the chain gives the player (the first
  sport named in its first step) and the sport it gives the action (the first sport named in a
  later step). Each slot the verifier chains fill is scored: 1 when the chain's sport is the
  verifiers' majority sport, 0 when it names another, :data:`MISSING_SLOT` when it leaves the
  slot out (a missing fact).
- ``content_words`` (every other task): the content words of the steps that are not in the
  question; the score is the mean F1 of the chain's words against each verifier chain's.

Every function here is pure; the tests work them by hand (tests/feedback_data/test_claims.py).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

from feedback_data.text.chain_format import parse_chain

# The score of a slot the verifiers fill and the chain leaves out: a missing fact is closer
# to an error than to a match, and less sure than a contradiction.
MISSING_SLOT = 0.25
# The score when nothing can be compared (no slot filled, no content words).
UNDECIDED = 0.5

# How chains name a sport; "football" alone is read as either American football or soccer
# (the paper's chains call soccer players "footballers" and say "football" for both).
SPORT_WORDS: dict[str, tuple[str, ...]] = {
    "soccer": ("soccer", "footballer", "premier league", "la liga", "mls"),
    "football": ("american football", "nfl", "quarterback"),
    "basketball": ("basketball", "nba"),
    "baseball": ("baseball", "mlb"),
    "hockey": ("hockey", "nhl"),
}
AMBIGUOUS_SPORT_WORDS = {"football": ("football", "soccer")}

_STOPWORDS = frozenset(
    "a an and are as at be because been but by can could did do does for from had has have "
    "he her his in is it its no not of on or she so than that the their then there they "
    "this to was were which who will with would yes answer".split())


def sports_named(text: str) -> list[tuple[int, tuple[str, ...]]]:
    """Every sport named in ``text``: (position, the sports it may mean), in order.

    >>> sports_named("He is a footballer. Dunks are basketball.")
    [(8, ('soccer',)), (30, ('basketball',))]
    """
    lowered = text.lower()
    found: list[tuple[int, int, tuple[str, ...]]] = []
    taken: list[tuple[int, int]] = []
    words = [(w, (sport,)) for sport, ws in SPORT_WORDS.items() for w in ws]
    words += [(w, sports) for w, sports in AMBIGUOUS_SPORT_WORDS.items()]
    for word, sports in sorted(words, key=lambda x: -len(x[0])):  # longest names first
        for m in re.finditer(r"\b" + re.escape(word), lowered):
            span = (m.start(), m.end())
            if any(s < span[1] and span[0] < e for s, e in taken):
                continue
            taken.append(span)
            found.append((m.start(), m.end(), sports))
    return [(start, sports) for start, _, sports in sorted(found)]


def sport_slots(steps: Sequence[str]) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """(the player's sport, the action's sport) a Sports chain's steps claim; None where a
    slot is not filled.

    >>> sport_slots(["X is a hockey player.", "A touchdown is in American football."])
    (('hockey',), ('football',))
    >>> sport_slots(["X is a baseball player."])
    (('baseball',), None)
    """
    per_step = [[s for _, s in sports_named(step)] for step in steps]
    player = per_step[0][0] if per_step and per_step[0] else None
    action = next((s[0] for s in per_step[1:] if s), None)
    return player, action


def _majority(values: Sequence[tuple[str, ...] | None]) -> tuple[str, ...] | None:
    """The most common filled value (ties: the first seen), None when none is filled."""
    filled = [v for v in values if v is not None]
    return Counter(filled).most_common(1)[0][0] if filled else None


def sport_slot_score(question: str, chain: str, verifier_chains: Sequence[str]) -> float:
    """The share of slots the chain gets as the verifiers do (see the module doc).

    >>> v = ["The answer is no because X is a hockey player. Touchdowns are football."]
    >>> sport_slot_score("", "The answer is no because X is a hockey player. "
    ...                  "Touchdowns are NFL.", v)
    1.0
    >>> sport_slot_score("", "The answer is yes because X is a soccer player.", v)
    0.125
    """
    _, steps, _ = parse_chain(chain)
    mine = sport_slots(steps)
    theirs = [sport_slots(parse_chain(v)[1]) for v in verifier_chains]
    parts = []
    for slot in range(2):
        said = _majority([t[slot] for t in theirs])
        if said is None:
            continue
        if mine[slot] is None:
            parts.append(MISSING_SLOT)
        else:
            parts.append(float(bool(set(mine[slot]) & set(said))))
    return sum(parts) / len(parts) if parts else UNDECIDED


def content_words(text: str, leave_out: frozenset[str] = frozenset()) -> set[str]:
    """The lower-cased words of ``text`` that are neither stopwords nor in ``leave_out``.

    >>> sorted(content_words("The Nile is in Egypt.", frozenset({"nile"})))
    ['egypt']
    """
    return {w for w in re.findall(r"[a-z0-9]+", text.lower())
            if w not in _STOPWORDS and w not in leave_out}


def content_word_score(question: str, chain: str, verifier_chains: Sequence[str]) -> float:
    """The mean F1 of the chain's content words (outside the question) against each
    verifier chain's.

    >>> content_word_score("Is water wet?", "The answer is yes because water is liquid.",
    ...                    ["The answer is yes because water is a liquid.",
    ...                     "The answer is no because ice is solid."])
    0.5
    """
    asked = frozenset(content_words(question))
    mine = content_words(" ".join(parse_chain(chain)[1]), asked)
    scores = []
    for other in verifier_chains:
        theirs = content_words(" ".join(parse_chain(other)[1]), asked)
        if not mine or not theirs:
            continue
        both = len(mine & theirs)
        scores.append(0.0 if not both else 2 * both / (len(mine) + len(theirs)))
    return sum(scores) / len(scores) if scores else UNDECIDED


def answers_chain(answers: Sequence[str]) -> str:
    """The verifier's answers to the subquestions, read as one chain for a claim reader:
    each answer's steps (its "The answer is ... because" head left out), in the order of
    the subquestions, so the first answer fills a Sports chain's player slot.

    >>> answers_chain(["The answer is yes because X is a hockey player.", "Dunks are NBA."])
    'X is a hockey player. Dunks are NBA.'
    """
    return " ".join(" ".join(parse_chain(a)[1]) for a in answers).strip()


ClaimReader = Callable[[str, str, Sequence[str]], float]
# A task spec's ``claims`` names one of these (default ``content_words``).
CLAIM_READERS: dict[str, ClaimReader] = {
    "sport_slots": sport_slot_score,
    "content_words": content_word_score,
}
DEFAULT_CLAIM_READER = "content_words"


def verification_score(reader: str, question: str, chain: str,
                       verifier_chains: Sequence[str]) -> float:
    """How far ``chain`` agrees with the verifier chains, in [0, 1], by the named reader."""
    if reader not in CLAIM_READERS:
        raise ValueError(f"unknown claim reader {reader!r} (known: {', '.join(CLAIM_READERS)})")
    if not verifier_chains:
        raise ValueError("verification needs at least one verifier chain")
    return CLAIM_READERS[reader](question, chain, verifier_chains)
