"""Refine pairs on the base's own chains (data.refine_base_chains): labels by vocab.json's
facts worked by hand, the targets, what is left out and counted, and a real refine run."""

from __future__ import annotations

import json

import pytest

from feedback_data.text.instructions import refine_prompt
from training.data.base_chains import BASE_CHAINS, base_chain_pairs, label_by_vocab

VOCAB = {"players": {"hockey": ["Kyle Palmieri"], "baseball": ["Pete Alonso"]},
         "player_actions": {"hockey": ["hit the slapshot"], "soccer": ["took a corner kick"]}}
Q = "Kyle Palmieri hit the slapshot. Is this sentence plausible?"
RIGHT = ("The answer is yes because Kyle Palmieri is a hockey player. "
         "The phrase hit the slapshot belongs to hockey.")


@pytest.mark.parametrize(("question", "chain", "codes"), [
    (Q, RIGHT, []),
    # the player's sport wrong (and so the answer): a factual error, not also LI
    (Q, "The answer is no because Kyle Palmieri is a soccer player. "
        "The phrase hit the slapshot belongs to hockey.", ["FE"]),
    # the action's sport left out
    (Q, "The answer is yes because Kyle Palmieri is a hockey player.", ["MF"]),
    # a wrong sport and a missing one
    (Q, "The answer is yes because Kyle Palmieri is a baseball player.", ["FE", "MF"]),
    # the facts right, the answer not the one they imply
    (Q, RIGHT.replace("answer is yes", "answer is no"), ["LI"]),
    # an implausible statement said plausible on right facts
    ("Pete Alonso took a corner kick. Is this sentence plausible?",
     "The answer is yes because Pete Alonso is a baseball player. "
     "The phrase took a corner kick belongs to soccer.", ["LI"]),
    # "football" may be soccer: not a contradiction of a soccer action
    ("Pete Alonso took a corner kick. Is this sentence plausible?",
     "The answer is no because Pete Alonso is a baseball player. "
     "Corner kicks are in football.", []),
    # nothing to check: vocab.json does not know the player; the answer cannot be read
    ("Nobody hit the slapshot. Is this sentence plausible?", RIGHT, None),
    (Q, "Kyle Palmieri is a hockey player.", None),
])
def test_label_by_vocab_worked_by_hand(question, chain, codes):
    assert label_by_vocab(question, chain, VOCAB) == codes


def _record(real_items, task, **changes):
    item = next(i for i in real_items if i.example.task == task)
    ex = item.example.model_copy(update=changes.pop("example", {}))
    fb = item.feedback.model_copy(update=changes.pop("feedback", {}))
    return item.model_copy(update={"example": ex, "feedback": fb})


@pytest.fixture(scope="module")
def real_items(real_data):
    from feedback_data.sources.paper_import import load_paper_feedback

    return (load_paper_feedback("sports_understanding", "train")[:5]
            + load_paper_feedback("strategyqa", "train")[:5])


def test_base_chain_pairs_targets_and_counts(real_items):
    def corrected(item, text, answer):
        return item.feedback.correction.model_copy(update={"text": text, "answer": answer})

    right = _record(real_items, "sports_understanding", example={"question": Q,
                                                                 "answer": "yes"})
    wrong_q = "Kyle Palmieri hit the slapshot again. Is this sentence plausible?"
    wrong = _record(real_items, "sports_understanding",
                    example={"question": wrong_q, "answer": "yes"})
    wrong = wrong.model_copy(update={"feedback": wrong.feedback.model_copy(
        update={"correction": corrected(wrong, RIGHT, "yes")})})
    # its only correction contradicts the gold answer: nothing to rewrite to
    stuck_q = "Kyle Palmieri hit the slapshot once more. Is this sentence plausible?"
    stuck = _record(real_items, "sports_understanding",
                    example={"question": stuck_q, "answer": "yes"})
    stuck = stuck.model_copy(update={"feedback": stuck.feedback.model_copy(
        update={"correction": corrected(stuck, RIGHT.replace("yes", "no", 1), "no")})})
    open_world = _record(real_items, "strategyqa")
    soccer = ("The answer is no because Kyle Palmieri is a soccer player. "
              "The phrase hit the slapshot belongs to hockey.")
    chains = {Q: RIGHT, wrong_q: soccer, stuck_q: soccer,
              open_world.example.question: "The answer is yes because water is wet."}
    pairs, counts = base_chain_pairs([right, wrong, stuck, open_world], chains, VOCAB)
    assert counts == {"questions": 4, "no_label": 1, "no_correction": 1, "no_error": 1,
                      "FE": 1, "MF": 0, "LI": 0, "pairs": 2}
    assert [p.source for p in pairs] == [refine_prompt(Q, RIGHT),
                                         refine_prompt(wrong_q, soccer)]
    assert pairs[0].target == f"no error ; {RIGHT}"  # keep the base's own right chain
    assert pairs[1].target == f"factual error ; {RIGHT}"  # rewrite to the human correction
    assert all(p.term == "refine" and p.id.startswith("base:") for p in pairs)


def test_only_the_refine_objective_takes_base_chains(make_cfg):
    from training.run.config import ConfigError

    with pytest.raises(ConfigError, match="refine objective only"):
        make_cfg("multitask", **{"data.refine_base_chains": True})


def test_a_refine_run_with_base_chains_counts_them(make_cfg, tmp_path):
    """The run's base (the tiny model) writes a chain for every training question; each is
    labelled or counted as left out, and the labelled ones join the refine pairs of the same
    run without them."""
    from training.recipe.objectives import train

    runs = {}
    for on in (False, True):
        out = tmp_path / f"refine-{on}"
        train(make_cfg("refine", out=out, **{"data.refine_base_chains": on,
                                             "data.tasks": ["sports_understanding"],
                                             "train.max_steps": 1}))
        runs[on] = json.loads((out / "run.json").read_text())["counts"]
    counted = runs[True][BASE_CHAINS]
    assert BASE_CHAINS not in runs[False]
    assert counted["questions"] > 0
    assert counted["questions"] == counted["no_label"] + counted["no_correction"] + \
        counted["pairs"]
    # every rewritten chain has one code or more
    assert counted["FE"] + counted["MF"] + counted["LI"] >= counted["pairs"] - \
        counted["no_error"]
    assert runs[True]["pairs_train_by_term"]["refine"] == \
        runs[False]["pairs_train_by_term"]["refine"] + counted["pairs"]
