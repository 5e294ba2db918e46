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
