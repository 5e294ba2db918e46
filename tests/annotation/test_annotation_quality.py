"""Queue order, gold mixing and the quality report, against hand-worked numbers."""

from __future__ import annotations

import pytest

from annotation.quality import format_quality, quality_report
from annotation.queue import mix_gold, order_chains, read_scores
from feedback_data.errors import DataError


def _chains(make_item, n, prefix="c"):
    return [make_item(f"{prefix}{k}", "a", [], [], "x").chain for k in range(n)]


def test_uncertainty_order_puts_p_near_half_first(make_item):
    chains = _chains(make_item, 5)
    scores = {"c0": 0.95, "c1": 0.5, "c2": 0.1, "c3": 0.6, "c4": 0.4}
    # |p - .5|: c0 .45, c1 0, c2 .4, c3 .1, c4 .1 (tie: given order)
    assert [c.id for c in order_chains(chains, "uncertainty", scores=scores)] == \
        ["c1", "c3", "c4", "c2", "c0"]
    with pytest.raises(DataError, match=r"no critic score for 1 chains \(first: c4\)"):
        order_chains(chains, "uncertainty", scores={k: v for k, v in scores.items() if k != "c4"})
    shuffled = [c.id for c in order_chains(chains, "random", seed=3)]
    assert sorted(shuffled) == [c.id for c in chains] and shuffled != [c.id for c in chains]
    assert shuffled == [c.id for c in order_chains(chains, "random", seed=3)]


def test_read_scores_names_the_bad_line(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"chain_id": "a", "p_no_error": 0.2}\n{"chain_id": "b", "p_no_error": 2}\n')
    with pytest.raises(DataError) as err:
        read_scores(path)
    assert str(err.value) == (f"{path}:2: expected 'chain_id' (string) and 'p_no_error' "
                              "(a probability)")


def test_gold_is_mixed_at_the_rate_and_spread(make_item):
    chains, gold = _chains(make_item, 90), _chains(make_item, 30, "g")
    queue = mix_gold(chains, gold, 0.1, seed=1)
    ids = [c.id for c in queue]
    gold_at = [i for i, cid in enumerate(ids) if cid.startswith("g")]
    assert len(ids) == 100 and len(gold_at) == 10  # 10 of 100 = the rate
    assert [c for c in ids if c.startswith("c")] == [c.id for c in chains]  # order kept
    assert all(k * 10 <= p < (k + 1) * 10 for k, p in enumerate(gold_at))  # one per tenth
    assert len(mix_gold(chains, gold[:3], 0.5)) == 93  # no more gold than given
    with pytest.raises(ValueError, match="gold rate must be in"):
        mix_gold(chains, gold, 1.0)


def _timed(make_item, chain, who, types, lead, ratings=None, time="2024-01-01T00:00:00Z"):
    item = make_item(chain, who, types, [1] if types else [], "The answer is no because a.",
                     time=time)
    return item.model_copy(update={"feedback": item.feedback.model_copy(
        update={"lead_time": lead, "step_ratings": ratings})})


def test_quality_report_by_hand(make_item):
    gold = {"g1": _timed(make_item, "g1", "paper", ["FE"], None, ["correct", "wrong"]),
            "g2": _timed(make_item, "g2", "paper", [], None)}
    items = [
        _timed(make_item, "g1", "x", ["FE"], 30.0, ["wrong", "wrong"]),  # error yes, exact, 1st 0
        _timed(make_item, "g2", "x", ["MF"], 60.0),  # error wrong
        _timed(make_item, "c1", "x", ["FE"], 90.0),
        _timed(make_item, "g1", "y", ["FE", "LI"], 20.0, ["correct", "wrong"]),  # not exact
        _timed(make_item, "c1", "y", ["FE"], None),
    ]
    report = quality_report(items, gold)
    x, y = report.annotators
    assert (x.annotator, x.n_tasks, x.n_gold) == ("x", 3, 2)
    assert x.gold_has_error_accuracy == pytest.approx(0.5)
    assert x.gold_types_exact == pytest.approx(0.5)
    assert x.gold_first_wrong_step_accuracy == pytest.approx(0.0)  # 0 vs gold 1
    assert x.median_seconds == pytest.approx(60.0)
    assert x.tasks_per_hour == pytest.approx(3600 * 3 / 180)
    assert (y.n_gold, y.gold_has_error_accuracy, y.gold_types_exact) == (1, 1.0, 0.0)
    assert y.gold_first_wrong_step_accuracy == 1.0 and y.n_timed == 1
    assert report.median_seconds == pytest.approx(45.0)  # of 30, 60, 90, 20
    assert report.tasks_per_hour == pytest.approx(3600 * 4 / 200)
    assert report.overlap_chains == 2  # g1 and c1 have two annotators
    text = format_quality(report)
    assert "median 45.0 s per task; 72.0 tasks per hour" in text
    assert "agreement per field:" in text and "alpha (all)" in text


def test_flagged_records_are_left_out_and_said(make_item):
    item = _timed(make_item, "c1", "x", [], 10.0)
    flagged = item.model_copy(update={"feedback": item.feedback.model_copy(
        update={"flags": ["no_error_type_ticked"]})})
    report = quality_report([flagged])
    assert (report.n_records, report.n_left_out, report.annotators) == (1, 1, [])
    assert "no gold labels given (--gold): gold accuracy not computed" in report.notes
