"""`rhf eval` end to end on a tiny T5: every method and task in report.json/.md, plots."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from eval.config import EvalConfig
from eval.runner import run_eval


def test_run_eval_writes_every_method_and_task(eval_tiny_t5: Path, tmp_path: Path) -> None:
    m = str(eval_tiny_t5)
    config = EvalConfig.of(model=m, base_model=m, refine_model=m, out=tmp_path / "ev", limit=3,
                        seeds=(0, 1), k=2, n=2, rounds=2, max_new_tokens=8,
                        calibration_limit=10, bootstrap=200)
    report = run_eval(config, log=lambda _m: None)
    for name in ("report.json", "report.md", "accuracy.png", "reliability.png",
                 "risk_coverage.png"):
        assert (tmp_path / "ev" / name).stat().st_size > 0
    stored = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert set(stored["accuracy"]) == {"cot", "multitask", "wsc", "wsc_soft", "refine"}
    for by_task in stored["accuracy"].values():
        assert set(by_task) == {"strategyqa", "sports_understanding"}
        assert all(v["seeds"] == 2 for v in by_task.values())
    assert len(stored["runs"]) == 5 * 2 * 2
    # Both calibration rows score the same 10 records (the ICL shots come from training).
    assert stored["calibration"]["icl"]["n"] == stored["calibration"]["finetuned"]["n"] == 10
    assert stored["code"]["commit"] and stored["models"]["model"]["rhf_model"]["kind"] == "tiny-t5"
    # Selective prediction: a curve per critic on the detection records (its n is theirs)
    # and per dev task for multitask's own answers.
    for key in ("icl", "finetuned"):
        sel = stored["calibration"][key]["selective"]
        assert sel["n"] == 10 and sel["points"][-1]["coverage"] == 1.0
        assert 0 <= sel["aurc_optimal"] <= sel["aurc"] <= 1
    assert set(stored["selective_dev"]) == {"strategyqa", "sports_understanding"}
    assert all(v["n"] == 3 for v in stored["selective_dev"].values())
    # The step critic is the multitask model asked for descriptions, labels from them.
    step = stored["step_critic"]
    assert step["model"] == m and step["prompt"] == "description"
    assert step["n"] == sum(step["label_sources"].values()) > 0
    wsc = next(r for r in stored["runs"] if r["method"] == "wsc")
    assert wsc["params"] | {"n": 2, "w": 0.5, "temperature": 0.7} == wsc["params"]
    md = (tmp_path / "ev" / "report.md").read_text()
    for text in ("Table 1", "Table 2", "Weighted self-consistency", "Iterative refinement",
                 "soft weights (extension)", "Majority class", "Paired test against CoT",
                 "Sports Understanding", "ICL baseline", "67.39 ± 2.6", "73.98",
                 "Selective prediction", "Coverage at 90% accuracy",
                 "First wrong step (ProcessBench F1, n=", "labels from descriptions"):
        assert text in md
    assert set(report["timings_s"]) >= {"cot", "multitask", "wsc", "refine", "total"}
    assert all((tmp_path / "ev" / r["predictions"]).exists() for r in stored["runs"])
    # The paired counts agree with the saved predictions, question by question.
    from eval.stats import mcnemar_exact

    def right(method: str, task: str, seed: int) -> dict[str, bool]:
        path = tmp_path / "ev" / "predictions" / f"{method}_{task}_seed{seed}.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        return {r["example_id"]: r["answer"] == r["gold"] for r in rows}

    for method in ("multitask", "wsc", "wsc_soft", "refine"):
        for task in ("strategyqa", "sports_understanding"):
            for entry in stored["accuracy"][method][task]["vs_cot"]:
                cot, other = right("cot", task, entry["seed"]), right(method, task, entry["seed"])
                expected = mcnemar_exact([cot[q] for q in cot], [other[q] for q in cot])
                assert {k: entry[k] for k in expected} == expected


def test_eval_cli(eval_tiny_t5: Path, tmp_path: Path) -> None:
    from rhf_cli import app

    out = tmp_path / "cli"
    result = CliRunner().invoke(app, [
        "eval", "--model", str(eval_tiny_t5), "--base-model", str(eval_tiny_t5),
        "--methods", "cot,multitask", "--tasks",
        "sports_understanding", "--limit", "2", "--k", "1", "--max-new-tokens", "6",
        "--no-calibration", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert set(json.loads((out / "report.json").read_text())["accuracy"]) == {"cot", "multitask"}
    bad = CliRunner().invoke(app, ["eval", "--model", str(eval_tiny_t5), "--methods", "beam"])
    assert bad.exit_code == 1 and "unknown method 'beam'" in bad.output
    missing = CliRunner().invoke(app, ["eval", "--model", str(tmp_path / "nope"),
                                       "--methods", "multitask", "--no-calibration"])
    assert missing.exit_code == 1 and "no such model folder" in missing.output
    # No silent substitution: cot needs --base-model, refine --refine-model.
    no_base = CliRunner().invoke(app, ["eval", "--model", str(eval_tiny_t5)])
    assert no_base.exit_code == 1
    assert "--base-model is required for cot, refine, the ICL calibration baseline" in (
        no_base.output)
    no_refine = CliRunner().invoke(app, ["eval", "--model", str(eval_tiny_t5), "--base-model",
                                         str(eval_tiny_t5), "--methods", "refine"])
    assert no_refine.exit_code == 1 and "--refine-model is required for refine" in (
        no_refine.output)


def test_run_eval_with_baselines_and_refine_threshold(eval_tiny_t5: Path, tmp_path: Path
                                                      ) -> None:
    """Table 2's baselines on the same records, refine's threshold rule with its flips, the
    vote summary: in report.json and report.md."""
    import pytest

    from eval.detection_baselines import DETECTION_BASELINES

    m = str(eval_tiny_t5)
    config = EvalConfig.of(model=m, base_model=m, refine_model=m, out=tmp_path / "ev", limit=3,
                        methods=("cot", "wsc", "refine"), k=0, n=2, rounds=2,
                        max_new_tokens=8, calibration_limit=8, bootstrap=100, plots=False,
                        refine_rule="threshold", tau=0.5, selective_dev=False,
                        detection_baselines=DETECTION_BASELINES)
    run_eval(config, log=lambda _m: None)
    stored = json.loads((tmp_path / "ev" / "report.json").read_text())
    base = stored["detection_baselines"]
    assert set(base) == {"prior", "agreement", "icl_cf", "sports_prior", "sports_agreement",
                         "sports_icl_cf", "sports_rules"}
    critic = {k: stored["calibration"][k] for k in ("finetuned", "sports_finetuned")}
    for key, b in base.items():
        prefix = "sports_" if key.startswith("sports_") else ""
        assert b["n"] == critic[f"{prefix}finetuned"]["n"] == 8 and b["accuracy"] is None
        d = b["critic_minus_baseline"]
        if d["diff"] is not None:  # both classes among the 8 records
            assert d["diff"] == pytest.approx(critic[f"{prefix}finetuned"]["auroc"] - b["auroc"])
        assert (tmp_path / "ev" / b["predictions"]).exists()
    assert len(set(r["p_no_error"] for r in json.loads(
        "[" + ",".join((tmp_path / "ev" / base["prior"]["predictions"]).read_text()
                       .splitlines()) + "]"))) == 1  # a constant
    assert 0 < base["prior"]["constant"] < 1
    assert "critic_minus_baseline" in stored["calibration"]["icl"]
    refine = [r for r in stored["runs"] if r["method"] == "refine"]
    assert refine and all(r["params"]["rule"] == "threshold" and r["params"]["tau"] == 0.5
                          for r in refine)
    summary = refine[0]["refine"]
    assert summary["n"] == 3 and sum(summary["rounds_used"].values()) == 3
    assert summary["start_right"] + sum(f["wrong_to_right"] - f["right_to_wrong"]
                                        for f in summary["flips"]) == summary["final_right"]
    assert stored["refine_threshold"] == {"tau": 0.5, "chosen_on": "--tau"}
    vote = next(r for r in stored["runs"] if r["method"] == "wsc")["vote"]
    assert vote["samples"] == 3 * 2 and 0 <= vote["share_weight_one"] <= 1
    md = (tmp_path / "ev" / "report.md").read_text()
    for text in ("Baseline: the prior", "Baseline: self-consistency agreement",
                 "Baseline: ICL, content-free calibrated",
                 "Baseline: vocab.json rule checker (ceiling)", "Critic − row AUROC",
                 "held out by question, not by fact", "### Iterative refinement: rounds and "
                 "flips", "τ = 0.5 (--tau)", "### Weighted votes", "AURC − random"):
        assert text in md, text
    # tau from validation needs a critic run that records its validation split
    with pytest.raises(ValueError, match="pass --tau"):
        run_eval(EvalConfig.of(model=m, base_model=m, refine_model=m, out=tmp_path / "ev2",
                            limit=1, methods=("refine",), k=0, rounds=1, max_new_tokens=4,
                            calibration=False, selective_dev=False, plots=False,
                            refine_rule="threshold"), log=lambda _m: None)
