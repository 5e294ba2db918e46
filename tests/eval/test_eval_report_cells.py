"""report.md's cells from hand-written numbers."""

from __future__ import annotations

from eval.report import accuracy_cell, ci_text, p_text, paired_cell


def test_accuracy_cell_one_result_and_several_seeds() -> None:
    one = {"mean": 0.65, "std": 0.0, "seeds": 3, "seed_dependent": False,
           "ci": [0.6091, 0.6889]}
    assert accuracy_cell(one) == "65.00 [60.9, 68.9]"
    several = {"mean": 0.58, "std": 0.01, "seeds": 3, "seed_dependent": True,
               "ci": [0.5408, 0.6192]}
    assert accuracy_cell(several) == "58.00 ± 1.00 [54.1, 61.9]"
    # one seed of a sampling method: no std to show
    assert accuracy_cell(several | {"seeds": 1}) == "58.00 [54.1, 61.9]"


def test_ci_and_p_text() -> None:
    assert ci_text([0.351, 0.9224], scale=1, digits=3) == "[0.351, 0.922]"
    assert ci_text([None, None]) == "[n/a]" and ci_text(None) == "[n/a]"
    assert p_text(0.625) == "0.625" and p_text(0.00063) == "6.3e-04"


def test_paired_cell_per_seed() -> None:
    one = {"vs_cot": [{"seed": 0, "won": 3, "lost": 1, "p_value": 0.625}]}
    assert paired_cell(one) == "+3 / −1, p 0.625"
    two = {"vs_cot": one["vs_cot"] + [{"seed": 1, "won": 0, "lost": 6, "p_value": 0.03125}]}
    assert paired_cell(two) == "s0: +3 / −1, p 0.625; s1: +0 / −6, p 0.031"


def test_report_names_what_each_number_is() -> None:
    """A demo's report.json (the one at 543f525, frozen in tests/assets so that a new demo
    run does not move this test), plus hand-made baseline, refine and vote entries, rendered:
    Table 1's CoT row, Table 2's baselines and verdicts, '= majority', the refine flips, the
    vote summary and the critics worse than random."""
    import json
    from pathlib import Path

    from eval.report import render_markdown

    root = Path(__file__).resolve().parents[2]
    report = json.loads((root / "tests" / "assets" / "report_demo_543f525.json").read_text())
    sel = report["calibration"]["sports_finetuned"]["selective"]
    report["detection_baselines"] = {"sports_rules": {
        "baseline": "sports_rules", "task": "sports_understanding", "n": 167,
        "accuracy": None, "accuracy_ci": None, "unreadable": None,
        "accuracy_p_ge_half": 0.70, "majority": 0.6527, "gold_no_error_share": 0.3473,
        "auroc": 0.764, "auroc_ci": [0.69, 0.83], "ece": 0.2, "selective": sel,
        "critic_minus_baseline": {"diff": -0.194, "lo": -0.30, "hi": -0.08, "p_value": 0.002}}}
    report["runs"].append({"method": "refine", "task": "sports_understanding", "seed": 0,
                           "reused_earlier_seed": False, "params": {}, "refine": {
                               "n": 4, "start_right": 3, "final_right": 2,
                               "rounds_used": {"0": 2, "1": 1, "2": 1},
                               "stops": {"critic_no_error": 3, "max_rounds": 1},
                               "flips": [{"round": 1, "ran": 2, "right_to_wrong": 1,
                                          "wrong_to_right": 0},
                                         {"round": 2, "ran": 1, "right_to_wrong": 0,
                                          "wrong_to_right": 0}]}})
    report["runs"].append({"method": "wsc", "task": "strategyqa", "seed": 0, "params": {},
                           "vote": {"samples": 8, "share_weight_one": 0.125,
                                    "mean_weight": 0.5625, "mean_vote_margin": 0.4,
                                    "questions_without_vote": 0}})
    report["refine_threshold"] = {"tau": 0.31, "chosen_on": "119 validation records"}
    md = render_markdown(report, [])
    table1 = md.split("## Table 1")[1].split("\n### ")[0]
    assert "| CoT 0-shot, with a base pre-trained on this very format | 49.73 [45.6, 53.9] " \
           "(paper's 4-shot ICL, not like for like: 67.39 ± 2.6) |" in table1
    assert "not compared like for like with the paper's" in table1
    table2 = md.split("## Table 2")[1].split("\n### ")[0]
    # the critic's accuracy at P >= 0.5 is exactly the majority class (no record reaches .5)
    assert "| 0 | 65.27 (= majority) | 0.570 [0.481, 0.660] | 0.129 |" in table2
    assert "| Sports, 20% of the paper's feedback held out by question, not by fact | " \
           "Baseline: vocab.json rule checker (ceiling) | 167 | no label written | 65.27 |" \
           in table2
    assert "| 70.00 | 0.764 [0.690, 0.830] | 0.200 | -0.194 [-0.300, -0.080], p 0.002 |" \
        in table2
    assert "- Sports Understanding, vocab.json rule checker (ceiling) (AUROC 0.764): the " \
           "critic (AUROC 0.570) is worse than it (the CI of the difference is below 0)." \
           in table2
    assert "held out from training by question, not by fact" in table2
    # the baseline row comes after Sports' critics, not among StrategyQA's
    rows = [line for line in table2.splitlines() if line.startswith("| Sports")]
    assert rows[-1].split(" | ")[1] == "Baseline: vocab.json rule checker (ceiling)"
    assert "τ = 0.31 (119 validation records)" in md
    assert "| Sports Understanding | 0 | 3/4 | 2/4 | r1: 2, −1, +0; r2: 1, −0, +0 | " \
           "0: 2, 1: 1, 2: 1 | critic_no_error: 3, max_rounds: 1 |" in md
    assert "| Weighted self-consistency | StrategyQA | 0 | 8 | 12.50 | 0.562 | 0.400 |" in md
    # Sports dev: AURC .0854 against .0711 at full coverage (+.0144), said plainly
    assert "| dev sets: multitask's own answers | Sports Understanding | 197 | 0.085 | 0.003 " \
           "| 0.071 | +0.0144 (worse than random) |" in md
    assert "Worse than random order (AURC above the risk at full coverage): " in md
    assert "Sports Understanding on dev sets: multitask's own answers" in md
