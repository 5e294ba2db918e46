"""The model card in final/: written with huggingface_hub's ModelCard, read back with
ModelCard.load, every field checked against the run's own record."""

from __future__ import annotations

import json

import pytest
import yaml

SECTIONS = ("## Training data", "## Training", "## Validation", "## Intended use and limits",
            "## Provenance")


def test_final_holds_a_card_that_modelcard_loads(make_cfg, tiny_model, tmp_path):
    from huggingface_hub import ModelCard

    from training.recipe.objectives import train
    from training.run.checkpoint import verify_checkpoint

    out = tmp_path / "run"
    final = train(make_cfg("multitask", out=out, **{"train.max_steps": 2,
                                                    "data.eval_fraction": 0.25}))
    card = ModelCard.load(final / "README.md")
    run = json.loads((final / "run.json").read_text())
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    facts = card.data.rhf
    assert card.data.library_name == "transformers"
    assert card.data.pipeline_tag == "text2text-generation"
    assert {"rhf", "multitask"} <= set(card.data.tags)
    assert card.data.base_model is None  # a local folder is no Hub id; it is in facts
    assert facts["base_model"] == str(tiny_model) == run["model"]
    assert facts["objective"] == "multitask"
    assert facts["git_commit"] == run["git_commit"] and facts["seed"] == run["seed"] == 42
    assert facts["feedback_sources"] == run["counts"]["sources"] == {
        "human": 0, "imported": 24, "simulated": 0}
    assert facts["records"]["records_total"] == 24
    assert facts["steps"] == 2
    tokens = sum(x["train/tokens_per_s"] * x["train/window_s"] for x in lines
                 if "train/window_s" in x)
    assert facts["tokens"] == round(tokens) > 0
    assert facts["train_seconds"] == pytest.approx(
        sum(x["train/window_s"] for x in lines if "train/window_s" in x), abs=0.06)
    cc = facts["contradicting_corrections"]
    assert cc == run["counts"]["contradicting_corrections"] and cc["policy"] == "drop"
    assert cc["records"] == 4  # of the 24 StrategyQA records, 4 contradict the gold answer
    assert facts["validation"] == run["validation"] and run["validation"]["select_by"] is None
    last_eval = [x for x in lines if "eval/loss" in x][-1]
    assert facts["held_out_loss"]["eval/loss"] == pytest.approx(last_eval["eval/loss"], abs=1e-4)
    for section in SECTIONS:
        assert f"\n{section}\n" in card.text
    config_block = card.text.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert yaml.safe_load(config_block) == yaml.safe_load((final / "config.yaml").read_text())
    assert f"commit `{run['git_commit']}`" in card.text
    assert verify_checkpoint(final) == len(json.loads(
        (final / "manifest.json").read_text())["files"])
    assert "README.md" in json.loads((final / "manifest.json").read_text())["files"]


RUN = {"objective": "refine", "model": "google/flan-t5-large", "seed": 7, "git_commit": "abc123",
       "counts": {"records_total": 10, "records_left_out": 1, "records_train": 8,
                  "records_eval": 1, "sources": {"human": 3, "imported": 5, "simulated": 1},
                  "contradicting_corrections": {"policy": "drop", "dropped": 2, "kept": 0}},
       "validation": {"best_step": 40, "accuracy": 0.625}, "total_steps": 50}
CONFIG = {"objective": "refine", "model": {"name_or_path": "google/flan-t5-large",
                                           "lora_r": 8},
          "train": {"lr": 3e-4, "batch_size": 4}}
SUMMARY = {"steps": 50, "tokens": 123456, "train_seconds": 3600.0, "last_eval": {}}


def test_card_shows_the_policy_and_validation_when_the_run_recorded_them():
    from training.recipe.model_card import render_card

    card = render_card(RUN, CONFIG, SUMMARY)
    facts = card.data.rhf
    assert card.data.base_model == "google/flan-t5-large"  # a Hub id: the Hub's own field
    assert card.data.library_name == "peft" and "lora" in card.data.tags
    assert facts["contradicting_corrections"] == {"policy": "drop", "dropped": 2, "kept": 0}
    assert "policy **drop** (dropped 2, kept 0)" in card.text
    assert facts["validation"] == {"best_step": 40, "accuracy": 0.625}
    assert "| accuracy | 0.625 |" in card.text
    assert "| simulated | 1 |" in card.text and "| human | 3 |" in card.text
    assert "| tokens trained on (source + target, padding excluded) | 123,456 |" in card.text
    assert "3600.0 s (1.00 h)" in card.text
    assert "iterative refinement" in card.text  # the refine objective's intended use


def test_append_results_sets_the_model_index_and_keeps_the_manifest(tmp_path):
    from huggingface_hub import ModelCard

    from training.recipe.model_card import Result, append_results, card_folder, render_card
    from training.run.checkpoint import verify_checkpoint, write_manifest

    final = tmp_path / "run" / "final"
    final.mkdir(parents=True)
    (final / "run.json").write_text(json.dumps(RUN))
    (final / "README.md").write_text(str(render_card(RUN, CONFIG, SUMMARY)))
    write_manifest(final)
    assert card_folder(tmp_path / "run") == final == card_folder(final)
    append_results(final, [Result("strategyqa", "StrategyQA dev", "accuracy", 0.5123, "refine")],
                   "| Method | Accuracy |\n|---|---|\n| refine | 51.23 |")
    append_results(final, [Result("strategyqa", "StrategyQA dev", "accuracy", 0.55, "refine")],
                   "second evaluation")
    card = ModelCard.load(final / "README.md")
    assert [r.metric_value for r in card.data.eval_results] == [0.55]  # the latest
    assert card.data.eval_results[0].dataset_name == "StrategyQA dev"
    assert card.data.model_name == "run"
    assert card.text.count("## Evaluation (rhf eval") == 2
    assert "| refine | 51.23 |" in card.text and card.text.rstrip().endswith("second evaluation")
    assert card.data.rhf["objective"] == "refine"  # the training's facts stay
    verify_checkpoint(final)


def test_update_card_needs_a_card_before_anything_runs(tmp_path):
    from eval.config import EvalConfig

    with pytest.raises(ValueError, match="--update-card: .* has no model card"):
        EvalConfig(model=str(tmp_path), out=tmp_path / "eval", methods=("multitask",),
                   calibration=False, update_card=True).check()
    assert not (tmp_path / "eval").exists()
