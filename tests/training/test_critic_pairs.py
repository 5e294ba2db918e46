"""The critic's pairs: corrections as 'no error', counterfactual edits with their error type
by construction, label balance, and a critic run that stores its reading (issue 33)."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from feedback_data.records.schema import Chain, Correction, Example, Feedback, FeedbackItem
from feedback_data.text.chain_format import parse_chain
from training.data.critic_pairs import (
    augment,
    change_number,
    critic_pairs,
    critic_val_items,
    drop_step,
    flip_answer,
    insert_fact,
    resample,
    reweight,
    swap_sport,
)
from training.data.examples import Pair

SPORTS = ["soccer", "football", "basketball", "baseball", "hockey"]


def _item(i: int, task: str, question: str, gold: str, chain: str, correction: str,
          types: list[str]) -> FeedbackItem:
    ex = Example(id=f"e{i}", task=task, question=question, answer=gold)
    a, steps, _ = parse_chain(chain)
    ch = Chain(id=f"c{i}", example_id=ex.id, task=task, question=question, model="m",
               prompt_id="p", text=chain, answer=a, steps=steps, parsed=True)
    ca, csteps, _ = parse_chain(correction)
    fb = Feedback(id=f"f{i}", chain_id=ch.id, annotator="a", source="imported",
                  correction=Correction(text=correction, answer=ca, steps=csteps),
                  error_types=types)
    return FeedbackItem(example=ex, chain=ch, feedback=fb)


# Hand-worked records: Aaron Nola (FE, corrected to the gold 'no'), CJ McCollum (no error),
# and a StrategyQA record whose correction contradicts the gold answer.
NOLA = _item(0, "sports_understanding", "Aaron Nola converted the first down. Is this "
             "sentence plausible?", "no",
             "The answer is yes because Aaron Nola is a football player. First downs are made "
             "by advancing the ball.",
             "The answer is no because Aaron Nola is a baseball pitcher. First downs are in "
             "American football.", ["FE"])
MCCOLLUM = _item(1, "sports_understanding", "CJ McCollum shot from the six yard line. Is "
                 "this sentence plausible?", "no",
                 "The answer is no because CJ McCollum is a basketball player. The six yard "
                 "line is for football.",
                 "The answer is no because CJ McCollum is a basketball player. The six-yard "
                 "line is for football.", [])
SEA = _item(2, "strategyqa", "Would it be hard to dive to the Red Sea's deepest point?",
            "yes", "The answer is no because The sea is 3,937 meters deep.",
            "The answer is no because divers reach 300 meters.", ["FE", "MF"])


def test_each_edit_on_hand_worked_steps():
    steps = NOLA.feedback.correction.steps
    assert steps == ["Aaron Nola is a baseball pitcher.", "First downs are in American "
                     "football."]
    # FE: 'baseball' is the first sport named; the others are soccer, football, basketball,
    # hockey; pick 2 is basketball.
    assert swap_sport(steps, SPORTS, pick=2) == ["Aaron Nola is a basketball pitcher.",
                                                 steps[1]]
    # 'American football' is one sport, swapped whole: pick 0 of [soccer, ...] is soccer.
    assert swap_sport(["First downs are in American football."], SPORTS, 0) == [
        "First downs are in soccer."]
    assert swap_sport(["No sport here."], SPORTS) is None
    assert change_number(["The sea is 3,937 meters deep."]) == ["The sea is 7875 meters deep."]
    assert change_number(["No number."]) is None
    assert drop_step(steps, 0) == [steps[1]]
    assert drop_step(steps[:1], 0) is None  # a one-step chain keeps its step
    assert insert_fact(steps, "Cats purr.", 2) == [*steps, "Cats purr."]
    assert insert_fact(steps, steps[0], 0) is None
    assert flip_answer("no") == "yes" and flip_answer(None or "") is None


def test_augment_writes_a_chain_with_its_error_type():
    rng = random.Random(0)
    facts = [("e9", "Cats purr.")]
    text, code = augment(NOLA, "flip_answer", rng, SPORTS, facts)
    assert code == "LI" and text.startswith("The answer is yes because Aaron Nola is a "
                                            "baseball pitcher.")
    text, code = augment(NOLA, "insert_fact", rng, SPORTS, facts)
    assert code == "IR" and "Cats purr." in text
    text, code = augment(NOLA, "fact_swap", rng, SPORTS, facts)
    assert code == "FE" and "baseball" not in text and parse_chain(text)[0] == "no"
    # StrategyQA has no sports: the fact swap changes the first number (300 -> 601).
    assert augment(SEA, "fact_swap", rng, SPORTS, facts) == (
        "The answer is no because divers reach 601 meters.", "FE")
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment(NOLA, "shuffle", rng, SPORTS, facts)


def test_corrections_and_edits_are_counted_and_contradicting_ones_stay_out():
    items = [NOLA, MCCOLLUM, SEA]
    plain, counts = critic_pairs(items)
    assert [p.target for p in plain] == ["factual error", "no error",
                                         "factual error, missing facts"]
    assert counts.corrections == 0 and counts.augmented == {}
    pairs, counts = critic_pairs(items, corrections=True,
                                 augment_shares={"flip_answer": 1.0, "drop_step": 1.0})
    # Nola and McCollum's corrections agree with gold ('no'); Sea's says 'no' against 'yes'.
    assert counts.corrections == 2
    assert counts.corrections_left_out == {"contradicts_gold": 1}
    assert counts.augmented == {"drop_step": 2, "flip_answer": 2}
    targets = Counter(p.target for p in pairs)
    assert targets == {"no error": 3, "factual error": 1, "factual error, missing facts": 1,
                       "missing facts": 2, "logical inconsistency": 2}
    # The contrastive pair: the record's chain and its correction, one after the other.
    assert [p.id for p in pairs[:2]] == ["f0", "f0:correction"]
    assert all(p.term == "error_types" for p in pairs)
    assert counts.no_error_share == round(3 / 9, 4)


def test_resample_balances_the_two_classes():
    pairs = [Pair("a", "no error", "error_types")] + [
        Pair(s, "factual error", "error_types") for s in "bcdefg"]
    out, added = resample(pairs, random.Random(0))
    assert added == 5
    assert Counter(p.target == "no error" for p in out) == {True: 6, False: 6}
    _, counts = critic_pairs([NOLA, MCCOLLUM, SEA], balance="resample")
    assert counts.resampled == 1 and counts.no_error_share == 0.5


def test_reweight_gives_each_class_half_the_weight_and_keeps_every_pair_once():
    pairs = [Pair("a", "no error", "error_types")] + [
        Pair(s, "factual error", "error_types") for s in "bcdefg"]
    out, weights = reweight(pairs)
    # 7 pairs: 'no error' weighs 7 / (2 * 1) = 3.5, an error 7 / (2 * 6) = 0.5833
    assert weights == {"no_error": 3.5, "error": 0.5833}
    assert [p.weight for p in out] == [3.5] + [0.5833] * 6
    assert [p.source for p in out] == [p.source for p in pairs]
    assert reweight(pairs[1:]) == (pairs[1:], {})  # one class: left as it is
    balanced, counts = critic_pairs([NOLA, MCCOLLUM, SEA], balance="reweight")
    plain, _ = critic_pairs([NOLA, MCCOLLUM, SEA])
    assert [p.source for p in balanced] == [p.source for p in plain]  # nothing repeated
    no_error = sum(p.weight for p in balanced if p.target == "no error")
    error = sum(p.weight for p in balanced if p.target != "no error")
    assert no_error == pytest.approx(error, rel=1e-3) and counts.weights
    assert counts.resampled == 0


def test_validation_records_from_held_out_corrections():
    extra = critic_val_items([NOLA, MCCOLLUM, SEA], seed=0, vocab_sports=SPORTS)
    corrections = [i for i in extra if i.chain.id.endswith(":correction")]
    assert len(corrections) == 2 and all(not i.feedback.error_types for i in corrections)
    edits = [i for i in extra if not i.chain.id.endswith(":correction")]
    assert 1 <= len(edits) <= 2 and all(len(i.feedback.error_types) == 1 for i in edits)
    assert NOLA.feedback.error_types == ["FE"]  # the originals are untouched


def test_a_critic_run_counts_its_pairs_and_stores_its_reading(make_cfg, tmp_path):
    """objective critic on 24 records: run.json counts the corrections and edits, every
    critic pair is trained (error_types only), and final/critic.json holds the chosen
    scoring and a positive temperature fitted on validation."""
    from feedback_data.text.critic_labels import load_reading
    from training.recipe.objectives import train

    out = tmp_path / "critic"
    final = train(make_cfg("critic", out=out, **{
        "data.eval_fraction": 0.3, "train.validate": True, "train.select_by": "val/auroc_all",
        "data.critic_corrections": True, "data.critic_augment": {"flip_answer": 1.0},
        "train.max_steps": 3}))
    run = json.loads((out / "run.json").read_text())
    critic = run["counts"]["critic"]
    assert critic["corrections"] > 0 and critic["augmented"]["flip_answer"] > 0
    assert run["counts"]["pairs_train_by_term"] == {
        "error_types": critic["chains"] + critic["corrections"]
        + critic["augmented"]["flip_answer"]}
    reading = load_reading(final)
    stored = json.loads((final / "critic.json").read_text())
    assert reading.scoring in ("sum", "mean") and reading.temperature > 0
    assert stored["fitted_on"] == "validation"
    assert stored["records"] == run["counts"]["validation"]["critic_records"]["real"] + \
        run["counts"]["validation"]["critic_records"]["synthetic"]
    assert run["critic_reading"]["final"]["scoring"] == reading.scoring
    from training.run.checkpoint import verify_checkpoint

    files = json.loads((final / "manifest.json").read_text())["files"]
    assert {"critic.json", "critic_validation.json"} <= set(files)
    assert verify_checkpoint(final) == len(files)


def test_a_reweighted_critic_run_trains_every_pair_once_and_records_the_weights(make_cfg,
                                                                              tmp_path):
    from training.recipe.objectives import train

    out = tmp_path / "critic"
    train(make_cfg("critic", out=out, **{"data.critic_corrections": True,
                                         "data.critic_balance": "reweight",
                                         "train.max_steps": 2}))
    run = json.loads((out / "run.json").read_text())
    critic = run["counts"]["critic"]
    assert critic["balance"] == "reweight" and critic["resampled"] == 0
    share = critic["no_error_share"]
    # each class holds half the weight: n_ok * w_ok = n_bad * w_bad
    assert critic["weights"]["no_error"] * share == pytest.approx(
        critic["weights"]["error"] * (1 - share), rel=1e-2)
    assert run["counts"]["pairs_train_by_term"] == {
        "error_types": critic["chains"] + critic["corrections"]}


def test_the_critic_options_are_checked(make_cfg):
    """An unknown augmentation kind or a share outside [0, 1] is a config error; the shipped
    critic configs load."""
    from pathlib import Path

    from training.run.config import ConfigError
    from training.run.config_load import load_config

    with pytest.raises(ConfigError, match="unknown kind"):
        make_cfg("critic", **{"data.critic_augment": {"shuffle": 0.5}})
    with pytest.raises(ConfigError, match=r"in \[0, 1\]"):
        make_cfg("critic", **{"data.critic_augment": {"drop_step": 1.5}})
    with pytest.raises(ConfigError):
        make_cfg("critic", **{"data.critic_balance": "oversample"})
    root = Path(__file__).resolve().parents[2] / "configs" / "critic"
    for path in sorted(root.glob("*.yaml")):
        cfg = load_config(path, overrides={"train.output_dir": "x"}, objective="critic")
        assert cfg.data.critic_corrections and cfg.train.select_by == "val/auroc_all"


def test_a_multitask_run_with_the_subquestions_term(make_cfg, tmp_path):
    """data.term_weights.subquestions > 0: the term gets one pair per record that has
    subquestions, its share of the steps, and its own held-out loss; run.json counts the
    records without any (left out of the term) apart from the critic's counts."""
    from training.recipe.objectives import train

    out = tmp_path / "mt"
    train(make_cfg("multitask", out=out, **{
        "data.term_weights": {"answer": 1.0, "error_types": 1.0, "description": 1.0,
                              "subquestions": 1.0},
        "data.eval_fraction": 0.3, "train.max_steps": 4, "train.eval_every": 4}))
    run = json.loads((out / "run.json").read_text())
    counted = run["counts"]["subquestions"]
    by_term = run["counts"]["pairs_train_by_term"]
    assert by_term["subquestions"] == counted["records_with_subquestions"] > 0
    assert by_term["subquestions"] <= by_term["error_types"]
    assert "critic" not in run["counts"]  # the critic's options are off
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("eval/loss_subquestions" in m for m in metrics)


def test_label_words_rewrite_only_the_critic_pairs_and_name_a_bad_target():
    from training.data.critic_pairs import with_label_words

    words = ("correct", "fact", "missing", "irrelevant", "conflict")
    pairs = [Pair("q1", "missing facts, logical inconsistency", "error_types", "a"),
             Pair("q2", "no error", "error_types", "b"),
             Pair("q3", "no error", "answer", "c")]
    out, n = with_label_words(pairs, words)
    assert [p.target for p in out] == ["missing, conflict", "correct", "no error"]
    assert n == 2 and [p.id for p in out] == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"pair 'd'.*'maybe'"):
        with_label_words([Pair("q", "maybe", "error_types", "d")], words)


def test_a_critic_run_on_label_words_trains_and_stores_them(make_cfg, tmp_path):
    """data.critic_label_words: every critic target is written in the words, validation
    scores the sixteen word labels (the five single ones one token and EOS each), and
    critic.json stores the words, so a reader scores them."""
    from feedback_data.text.critic_labels import label_set, load_reading
    from training.recipe.objectives import train

    words = ["correct", "fact", "missing", "irrelevant", "conflict"]
    out = tmp_path / "critic_words"
    final = train(make_cfg("critic", out=out, **{
        "data.eval_fraction": 0.3, "train.validate": True, "train.select_by": "val/auroc_all",
        "data.critic_corrections": True, "data.critic_label_words": words,
        "train.max_steps": 2}))
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["critic_label_words"] == {
        "words": words, "pairs_train": run["counts"]["pairs_train_by_term"]["error_types"]}
    reading = load_reading(final)
    assert reading.label_words == tuple(words)
    assert reading.labels == label_set(words) and reading.labels[5] == "fact, missing"
    val = json.loads((final / "critic_validation.json").read_text())
    assert all(len(row) == 16 for row in val["rows"])
    assert [len(t) for t in val["rows"][0][:5]] == [2] * 5  # one word token + EOS
    assert len(set(val["first_ids"][:5])) == 5


def test_label_words_are_checked_against_the_rules_and_the_tokenizer(make_cfg, tmp_path):
    from training.recipe.objectives import train
    from training.run.config import ConfigError

    with pytest.raises(ConfigError, match="expected 5"):
        make_cfg("critic", **{"data.critic_label_words": ["correct", "fact"]})
    with pytest.raises(ConfigError, match="'Fact' is not one lowercase word"):
        make_cfg("critic", **{"data.critic_label_words":
                              ["correct", "Fact", "missing", "irrelevant", "conflict"]})
    with pytest.raises(ConfigError, match="its own word"):
        make_cfg("critic", **{"data.critic_label_words":
                              ["correct", "fact", "fact", "irrelevant", "conflict"]})
    cfg = make_cfg("critic", out=tmp_path / "bad", **{"data.critic_label_words": [
        "correct", "fact", "missing", "irrelevant", "contradiction"], "train.max_steps": 1})
    with pytest.raises(ConfigError, match=r"'contradiction' is [2-9] tokens"):
        train(cfg)
    assert not (tmp_path / "bad" / "final").exists()
