"""The combined critic: the logistic regression worked by hand, the fit stored with the
checkpoint, and Table 2's rows computed from the same signals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from eval.critic_combiner import (
    DEFAULT_FEATURES,
    cross_fitted,
    fit_combiner,
    fit_logistic,
    validation_items,
)
from feedback_data.text.claims import sport_slot_score
from inference.combined_critic import (
    COMBINER_KEY,
    FEATURES,
    VerifierSettings,
    combined_probabilities,
    feature_row,
    load_combiner,
    predict_logistic,
)
from inference.toy_models import ScriptedGenerator

TASK = "sports_understanding"


def test_fit_logistic_unpenalised_recovers_the_empirical_rates() -> None:
    # Two distinct x values: the unpenalised fit is saturated, so P(y | x) is the share of
    # positives at each x: 1/2 at x = 0, 2/3 at x = 1.
    m = fit_logistic([[0.0], [0.0], [1.0], [1.0], [1.0]], [False, True, False, True, True],
                     l2=0.0)
    assert predict_logistic(m, [0.0]) == pytest.approx(0.5, abs=1e-6)
    assert predict_logistic(m, [1.0]) == pytest.approx(2 / 3, abs=1e-6)


def test_fit_logistic_constant_feature_gets_no_weight_and_the_base_rate() -> None:
    m = fit_logistic([[1.0, 3.0], [1.0, 3.0], [1.0, 3.0], [1.0, 3.0]],
                     [True, False, False, False])
    assert m["weights"] == [0.0, 0.0]
    assert predict_logistic(m, [7.0, -2.0]) == pytest.approx(0.25, abs=1e-6)


def test_fit_logistic_penalty_shrinks_towards_the_base_rate() -> None:
    rows, labels = [[0.0], [0.0], [1.0], [1.0], [1.0]], [False, True, False, True, True]
    weak = fit_logistic(rows, labels, l2=0.0)["weights"][0]
    strong = fit_logistic(rows, labels, l2=100.0)["weights"][0]
    assert 0 < strong < weak


def test_predict_logistic_by_hand() -> None:
    model = {"mean": [1.0], "std": [2.0], "weights": [0.5], "bias": -1.0}
    assert predict_logistic(model, [5.0]) == pytest.approx(0.5)  # -1 + 0.5 * (5 - 1) / 2 = 0
    assert predict_logistic(model, [9.0]) == pytest.approx(1 / (1 + math.exp(-1)))
    with pytest.raises(ValueError):
        fit_logistic([[0.0]], [True, False])


def test_feature_row_clips_the_learned_probability() -> None:
    row = feature_row(0.5, 0.25, 1.0)
    assert row[:3] == [0.0, 0.25, 1.0] and math.isnan(row[3])  # no planner: not computed
    assert math.isfinite(feature_row(0.0, 0.0, 0.0)[0])
    assert feature_row(1.0, 0, 0)[0] == pytest.approx(math.log((1 - 1e-6) / 1e-6))


def test_cross_fitted_never_scores_a_row_with_its_own_fit() -> None:
    rows = [[float(i)] for i in range(8)]
    labels = [False, True] * 4
    crossed = cross_fitted(rows, labels)
    # stratified folds: rows 0, 1, 4, 5 in fold 0 (the 1st and 3rd of each class), so row 0
    # is scored by the model fitted on rows 2, 3, 6, 7 alone
    other = fit_logistic([rows[i] for i in (2, 3, 6, 7)], [labels[i] for i in (2, 3, 6, 7)])
    assert crossed[0] == pytest.approx(predict_logistic(other, rows[0]))
    assert crossed[0] != pytest.approx(predict_logistic(fit_logistic(rows, labels), rows[0]))
    with pytest.raises(ValueError, match="at least 2 records of each class"):
        cross_fitted(rows, [False, False, True, False, False, False, False, False])


# --- the fit stored with the checkpoint, and Table 2 ------------------------------------

PLAYER_SPORT = "hockey"
OTHER_SPORT = "baseball"


def _items(n: int) -> list:
    """``n`` real Sports training records rewritten: even ones name the verifier's sport and
    carry no error; odd ones name another sport and carry a Factual Error."""
    from feedback_data.sources.paper_import import load_paper_feedback
    from feedback_data.sources.splits import is_sports_detection

    out = []
    for k, item in enumerate([i for i in load_paper_feedback(TASK, "train")
                              if not is_sports_detection(i)][:n]):
        sport = PLAYER_SPORT if k % 2 == 0 else OTHER_SPORT
        text = f"The answer is yes because the player is a {sport} player."
        chain = item.chain.model_copy(update={"text": text, "answer": "yes",
                                              "steps": [f"the player is a {sport} player."]})
        feedback = item.feedback.model_copy(
            update={"error_types": [] if k % 2 == 0 else ["FE"]})
        out.append(item.model_copy(update={"chain": chain, "feedback": feedback}))
    return out


def _critic() -> ScriptedGenerator:
    # uninformative: the same P for every chain
    return ScriptedGenerator(lambda p, j: "no error", "critic",
                             score=lambda p, c: math.log(0.3 if c == "no error" else 0.7 / 15))


def _verifier() -> ScriptedGenerator:
    # greedy and every sample: the player's sport is hockey; answers 'yes' then 'no' in turn
    return ScriptedGenerator(
        lambda p, j: f"The answer is {'yes' if j % 2 == 0 else 'no'} because the player is a "
                     f"{PLAYER_SPORT} player.", "verifier")


def _checkpoint(tmp_path: Path, items: list) -> Path:
    folder = tmp_path / "final"
    folder.mkdir()
    (folder / "critic.json").write_text(json.dumps({"scoring": "sum", "temperature": 0.5}))
    (folder / "critic_validation.json").write_text(json.dumps(
        {"items": [i.model_dump(mode="json") for i in items]}))
    return folder


def test_fit_combiner_stores_the_fit_beside_the_reading(real_data, tmp_path: Path) -> None:
    from training.run.checkpoint import verify_checkpoint, write_manifest

    items = _items(16)
    folder = _checkpoint(tmp_path, items)
    write_manifest(folder)
    assert [i.feedback.id for i in validation_items(folder)] == [i.feedback.id for i in items]
    settings = VerifierSettings("verifier", samples=3)
    combiner = fit_combiner(folder, _critic(), _verifier(), settings, log=lambda _m: None)
    assert verify_checkpoint(folder) == 2  # critic.json's new sha256 is in the manifest
    stored = json.loads((folder / "critic.json").read_text())
    assert stored["scoring"] == "sum" and stored["temperature"] == 0.5  # kept
    assert stored[COMBINER_KEY] == combiner == load_combiner(folder)
    assert combiner["features"] == list(DEFAULT_FEATURES) == list(FEATURES[:3])
    assert combiner["verifier"] == {"model": "verifier", "samples": 3, "temperature": 0.7,
                                    "seed": 0, "max_new_tokens": 96, "planner": None,
                                    "max_subquestions": 3}
    fit = combiner["tasks"][TASK]
    assert (fit["n"], fit["no_error"]) == (16, 8)
    auroc = fit["validation_auroc"]
    # verification separates the two kinds of chain; the critic and agreement do not
    assert auroc["verification"] == 1.0
    assert auroc["learned"] == 0.5 and auroc["agreement"] == 0.5
    assert "subquestions" not in auroc  # no planner: not computed
    assert auroc["combined_cross_fitted"] == 1.0
    assert fit["weights"][1] > 0 and fit["weights"][0] == fit["weights"][2] == 0.0
    probs = combined_probabilities(combiner, TASK, [feature_row(0.3, 1.0, 0.5),
                                                     feature_row(0.3, 0.0, 0.5)])
    assert probs[0] > 0.5 > probs[1]
    assert combined_probabilities(combiner, "strategyqa", [[0.0, 0.0, 0.0]]) is None
    # refine's τ for the combined critic, on the cross-fitted validation P: verification
    # separates the classes, so some τ keeps every error-free chain and rewrites the rest
    tau = combiner["refine_tau"]
    assert (tau["n"], tau["no_error_records"], tau["balanced_accuracy"]) == (16, 8, 1.0)
    assert tau["rewritten_share"] == 0.5


def test_a_broken_combiner_is_one_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "critic.json").write_text(json.dumps(
        {"scoring": "sum", COMBINER_KEY: {"features": ["learned"], "tasks": {},
                                          "verifier": {"model": "m", "beams": 3}}}))
    with pytest.raises(ValueError, match=r"critic.json: 'combiner' is not a combiner"):
        load_combiner(tmp_path)
    (tmp_path / "critic.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"critic.json: unreadable"):
        load_combiner(tmp_path)
    (tmp_path / "critic.json").write_text(json.dumps({"scoring": "sum"}))
    assert load_combiner(tmp_path) is None


def test_fit_combiner_refuses_a_checkpoint_without_validation_items(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    with pytest.raises(FileNotFoundError, match="critic_validation.json"):
        validation_items(folder)
    (folder / "critic_validation.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match="no 'items'"):
        validation_items(folder)


class _Models:
    def __init__(self, models: dict) -> None:
        self.models = models
        self._critic = None

    def get(self, spec: str):
        return self.models[spec]

    def critic(self):
        from inference.combined_critic import with_combiner

        if self._critic is None:
            self._critic = with_combiner(self.models["critic"], self.get)
        return self._critic


def test_run_combiner_gives_table2_the_combined_critic_and_each_signal(
        real_data, tmp_path: Path) -> None:
    from eval.calibration import calibrate
    from eval.config import EvalConfig
    from eval.runner import critic_scores, run_combiner

    items = _items(16)
    folder = _checkpoint(tmp_path, items)
    critic = _critic()
    critic.info = {"path": str(folder)}
    verifier = _verifier()
    fit_combiner(folder, critic, verifier, VerifierSettings("verifier", samples=3),
                 log=lambda _m: None)
    config = EvalConfig.of(model="critic", base_model="verifier", out=tmp_path / "eval",
                           bootstrap=50)
    records = _items(10)
    calibration = {"sports_finetuned": calibrate(critic, records, task=TASK, bootstrap=50)}
    # the learned P read as critic.json says: summed scores at T 0.5, so
    # P = 0.3^2 / (0.3^2 + 15 (0.7/15)^2)
    assert calibration["sports_finetuned"]["reading"] == {"scoring": "sum", "temperature": 0.5}
    assert calibration["sports_finetuned"]["records"][0]["p_no_error"] == \
        pytest.approx(0.09 / (0.09 + 0.49 / 15))
    models = _Models({"critic": critic, "verifier": verifier})
    rows = run_combiner(config, models, records, TASK, "sports_", calibration, lambda _m: None)
    combined = calibration["sports_combined"]
    assert combined["auroc"] == 1.0 and combined["n"] == 10
    assert critic_scores(calibration, "sports_") == [r["p_no_error"]
                                                     for r in combined["records"]]
    assert "selective" in combined
    # the learned critic's row is compared with the combined critic on the same records
    assert calibration["sports_finetuned"]["critic_minus_baseline"]["diff"] == \
        pytest.approx(0.5)
    assert set(rows) == {"sports_verification", "sports_verifier_agreement"}
    verifier_texts = [f"The answer is {'yes' if j % 2 == 0 else 'no'} because the player "
                      f"is a {PLAYER_SPORT} player." for j in (0, 0, 1, 2)]
    by_hand = [sport_slot_score(r.example.question, r.chain.text, verifier_texts)
               for r in records]
    assert [r["p_no_error"] for r in rows["sports_verification"]["records"]] == by_hand
    # the verifier answers yes greedily and in samples 0 and 2 of 3: agreement 3/4
    assert {r["p_no_error"] for r in rows["sports_verifier_agreement"]["records"]} == {0.75}
    # a critic without a combiner: nothing added
    plain = {"sports_finetuned": calibrate(verifier_critic := _critic(), records, task=TASK,
                                           bootstrap=50)}
    verifier_critic.info = {"path": str(tmp_path / "nowhere")}
    assert run_combiner(config, _Models({"critic": verifier_critic}), records, TASK,
                        "sports_", plain, lambda _m: None) == {}
    assert set(plain) == {"sports_finetuned"}
    assert plain["sports_finetuned"]["records"][0]["p_no_error"] == pytest.approx(0.3)  # T 1
    # refine's τ: the combined critic's, as fit-critic chose it
    from eval.runner import choose_refine_tau

    tau = choose_refine_tau(config, models, lambda _m: None)
    assert tau["tau"] == load_combiner(folder)["refine_tau"]["tau"]
    assert tau["combined_critic"]["verifier"] == "verifier"
    models.critic().combiner.pop("refine_tau")  # a combiner fitted by an older rhf
    with pytest.raises(ValueError, match="holds no refine τ"):
        choose_refine_tau(config, models, lambda _m: None)


def test_fit_critic_command_on_a_real_checkpoint(real_data, eval_tiny_t5: Path,
                                                 tmp_path: Path) -> None:
    """`rhf eval fit-critic` loads the checkpoint and the verifier, fits on the stored
    validation records and writes the combiner; a folder without them is one clear error."""
    import shutil

    from typer.testing import CliRunner

    from rhf_cli import app

    folder = tmp_path / "ckpt"
    shutil.copytree(eval_tiny_t5, folder)
    items = _items(16)
    (folder / "critic_validation.json").write_text(json.dumps(
        {"items": [i.model_dump(mode="json") for i in items]}))
    result = CliRunner().invoke(app, ["eval", "fit-critic", str(folder), "--verifier",
                                      str(eval_tiny_t5), "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    combiner = load_combiner(folder)
    fit = combiner["tasks"][TASK]
    assert (fit["n"], fit["no_error"]) == (16, 8)
    assert combiner["verifier"]["model"] == str(eval_tiny_t5)
    assert combiner["verifier"]["samples"] == 0 and combiner["l2"] == 10.0
    # the planned subquestions: the checkpoint itself plans, the verifier answers
    result = CliRunner().invoke(app, ["eval", "fit-critic", str(folder), "--verifier",
                                      str(eval_tiny_t5), "--batch-size", "8", "--features",
                                      "learned,verification,agreement,subquestions",
                                      "--planner", "self", "--max-subquestions", "2"])
    assert result.exit_code == 0, result.output
    combiner = load_combiner(folder)
    assert combiner["features"][-1] == "subquestions"
    assert (combiner["verifier"]["planner"], combiner["verifier"]["max_subquestions"]) == \
        ("self", 2)
    assert "subquestions" in combiner["tasks"][TASK]["validation_auroc"]
    # each wrong input: one error line, exit 1, and the stored combiner as it was
    stored = (folder / "critic.json").read_bytes()
    for args, error in [
        (["--planner", "self"], "error: --planner is read only with the subquestions feature"),
        (["--features", "learned,subquestions"],
         "error: the 'subquestions' feature needs a planner"),
        (["--features", "learned,vibes"], "error: combiner features must be some of learned, "
                                          "verification, agreement, subquestions, got "
                                          "['learned', 'vibes']")]:
        result = CliRunner().invoke(app, ["eval", "fit-critic", str(folder), "--verifier",
                                          str(eval_tiny_t5), *args])
        assert result.exit_code == 1 and error in result.output, result.output
        assert (folder / "critic.json").read_bytes() == stored
    bare = tmp_path / "bare"
    shutil.copytree(eval_tiny_t5, bare)
    result = CliRunner().invoke(app, ["eval", "fit-critic", str(bare), "--verifier",
                                      str(eval_tiny_t5)])
    assert result.exit_code == 1
    assert "critic_validation.json: no critic validation records" in result.output
    assert load_combiner(bare) is None


def test_combined_dev_selective_orders_answers_by_the_combined_critic(
        real_data, tmp_path: Path) -> None:
    """Multitask's own dev answers ordered by the combined critic: chains that name the
    verifier's sport are right, the others wrong, so the order is the oracle's."""
    from types import SimpleNamespace

    from eval.config import EvalConfig
    from eval.runner import combined_dev_selective

    items = _items(16)
    folder = _checkpoint(tmp_path, items)
    critic, verifier = _critic(), _verifier()
    critic.info = {"path": str(folder)}
    fit_combiner(folder, critic, verifier, VerifierSettings("verifier"), log=lambda _m: None)
    config = EvalConfig.of(model="critic", base_model="verifier", out=tmp_path / "eval")
    models = _Models({"critic": critic, "verifier": verifier})
    examples = [i.example for i in items[:10]]
    flip = {"yes": "no", "no": "yes"}
    predictions = [SimpleNamespace(text=i.chain.text, answer=ex.answer if k % 2 == 0
                                   else flip[ex.answer])
                   for k, (i, ex) in enumerate(zip(items[:10], examples, strict=True))]
    sel = combined_dev_selective(config, models, TASK, examples, predictions, lambda _m: None)
    assert sel["n"] == 10 and sel["risk_at_full_coverage"] == pytest.approx(0.5)
    # two tied blocks: the 5 right answers first (coverage 0.5, risk 0), then the 5 wrong
    # (coverage 1, risk 0.5): AURC = 0.5 * 0 + 0.5 * 0.5 = 0.25, against 0.5 for random order
    assert sel["aurc"] == pytest.approx(0.25)
    assert sel["aurc_minus_random"] == pytest.approx(-0.25)
    assert sel["coverage_at_target"] == pytest.approx(0.5)
    assert combined_dev_selective(config, models, "strategyqa", examples, predictions,
                                  lambda _m: None) is None


def test_fit_combiner_with_planned_subquestions(real_data, tmp_path: Path) -> None:
    """The verifier's own chains name no sport; only its answer to the planner's question
    does: the subquestions feature separates the chains alone, and the fit leans on it."""
    from feedback_data.text.instructions import verification_question_prompt

    items = _items(16)
    folder = _checkpoint(tmp_path, items)
    planner = ScriptedGenerator(lambda p, j: "Who is the player?", "planner")
    asked = verification_question_prompt("Who is the player?")
    verifier = ScriptedGenerator(
        lambda p, j: f"The player is a {PLAYER_SPORT} player." if p == asked
        else "The answer is yes because it is plausible.", "verifier")
    settings = VerifierSettings("verifier", planner="planner")
    with pytest.raises(ValueError, match="needs a planner"):
        fit_combiner(folder, _critic(), verifier, settings, log=lambda _m: None,
                     features=FEATURES)
    combiner = fit_combiner(folder, _critic(), verifier, settings, log=lambda _m: None,
                            features=FEATURES, planner=planner)
    assert combiner["verifier"]["planner"] == "planner"
    auroc = combiner["tasks"][TASK]["validation_auroc"]
    assert auroc["subquestions"] == 1.0 and auroc["verification"] == 0.5
    assert auroc["combined_cross_fitted"] == 1.0
    weights = combiner["tasks"][TASK]["weights"]
    assert weights[3] > 0 and weights[0] == weights[1] == weights[2] == 0.0
    assert len(planner.calls) == 1  # one call, every question in it
    # without the feature the planner is not asked, and not stored
    again = fit_combiner(folder, _critic(), verifier, settings, log=lambda _m: None,
                         planner=planner)
    assert again["verifier"]["planner"] is None and len(planner.calls) == 1
