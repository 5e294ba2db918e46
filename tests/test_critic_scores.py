"""The critic's P(no error) for the annotation queue (pipeline.critic_scores) and `rhf annotate
push --order uncertainty --model M` / `rhf annotate score`, which get the critic from rhf_cli.

Pure parts against hand-computed numbers with a scripted scorer; the real models (the shipped
seq2seq base and a tiny causal Llama) against score_choices + label_probabilities computed
directly. The real Label Studio variant is in tests/annotation/test_annotation_queue_live.py.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

import annotation.campaign
import annotation.cli
import pipeline.critic_scores as cs
from annotation.queue import order_chains, read_scores
from feedback_data.records.jsonl import read_records
from feedback_data.records.schema import Chain
from feedback_data.text.critic_labels import ERROR_LABELS, label_probabilities
from feedback_data.text.instructions import error_types_prompt
from inference.toy_models import ScriptedGenerator
from rhf_cli import app

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "tests" / "assets"
TINY_BASE = ROOT / "models" / "tiny-base"


@pytest.fixture(scope="module")
def chains() -> list[Chain]:
    return read_records(ASSETS / "ls_chains.jsonl", Chain)


# Log-probabilities of the five labels ('no error' first) per chain, and P(no error) by hand:
# softmax, first entry.
LOGPS = [
    [math.log(0.5)] + [math.log(0.125)] * 4,   # 0.5 / (0.5 + 4 * 0.125) = 0.5
    [0.0] * 5,                                 # 1 / 5 = 0.2
    [math.log(3.0)] + [0.0] * 4,               # 3 / (3 + 4) = 3/7
    [math.log(9.0)] + [math.log(0.25)] * 4,    # 9 / (9 + 1) = 0.9
    [-10.0, -10.0, -10.0, -10.0, math.log(4.0) - 10.0],  # 1 / (1 + 1 + 1 + 1 + 4) = 0.125
]
BY_HAND = [0.5, 0.2, 3 / 7, 0.9, 0.125]


def _scripted(chains: list[Chain]) -> ScriptedGenerator:
    table = {error_types_prompt(c.question, c.text): row for c, row in zip(chains, LOGPS,
                                                                            strict=True)}
    # The eleven multi-type labels get no mass here (log-probability -1e9).
    return ScriptedGenerator(lambda p, j: "", score=lambda p, c: table[p][ERROR_LABELS.index(c)]
                             if ERROR_LABELS.index(c) < 5 else -1e9)


def test_score_chains_is_the_softmax_share_of_no_error(chains):
    gen = _scripted(chains)
    got = cs.score_chains(gen, chains, batch_size=2, progress=False)
    assert list(got) == [c.id for c in chains]
    assert list(got.values()) == pytest.approx(BY_HAND, abs=1e-12)
    # The critic's instruction for (question, chain), over the sixteen labels, in batches of 2.
    assert [len(call["prompts"]) for call in gen.calls] == [2, 2, 1]
    assert all(call["choices"] == list(ERROR_LABELS) for call in gen.calls)
    assert gen.calls[0]["prompts"][0] == error_types_prompt(chains[0].question, chains[0].text)


def test_score_chains_scores_a_repeated_chain_once_and_refuses_a_clashing_id(chains):
    gen = _scripted(chains)
    got = cs.score_chains(gen, [chains[0], chains[1], chains[0]], progress=False)
    assert got == pytest.approx({chains[0].id: 0.5, chains[1].id: 0.2})
    assert [len(call["prompts"]) for call in gen.calls] == [2]
    other = chains[1].model_copy(update={"id": chains[0].id})
    with pytest.raises(ValueError, match="appears twice with different texts"):
        cs.score_chains(gen, [chains[0], other], progress=False)


# ---- the CLI: the critic comes from rhf_cli; nothing reaches Label Studio here -------------


class _FakeCritic:
    def __init__(self, scores: dict[str, float]) -> None:
        self.scores, self.calls = scores, []

    def __call__(self, model, chains, *, batch_size, device, dtype):
        self.calls.append((model, [c.id for c in chains], batch_size))
        self.precision = (device, dtype)
        return {c.id: self.scores[c.id] for c in chains}


@pytest.fixture
def fake(monkeypatch, chains):
    """A fake critic behind rhf_cli's registration, and push_chains recording what it got."""
    critic = _FakeCritic({c.id: p for c, p in zip(chains, BY_HAND, strict=True)})
    monkeypatch.setattr(cs, "critic_scores", critic)
    pushed: list[list[str]] = []

    def push_chains(client, pid, chain_list, example_map, *, batch_size, pilot):
        pushed.append([c.id for c in chain_list])
        return type("R", (), {"sent": len(chain_list), "already_there": 0})()

    @contextmanager
    def client(url):
        yield type("C", (), {"find_project": lambda self, t: {"id": 1}, "url": "u"})()

    monkeypatch.setattr(annotation.campaign, "push_chains", push_chains)
    monkeypatch.setattr(annotation.cli, "_client", client)
    critic.pushed = pushed
    return critic


def _push(*extra: str, cli=app):
    args = ["push", str(ASSETS / "ls_chains.jsonl"), "--examples",
            str(ASSETS / "ls_examples.jsonl"), *extra]
    return CliRunner().invoke(cli, ["annotate", *args] if cli is app else args)


def test_push_model_orders_by_the_critic_like_order_chains(fake, chains):
    res = _push("--order", "uncertainty", "--model", "critic-ckpt", "--score-batch-size", "7")
    assert res.exit_code == 0, res.output
    assert fake.calls == [("critic-ckpt", [c.id for c in chains], 7)]
    expected = [c.id for c in order_chains(chains, "uncertainty", scores=fake.scores)]
    # |p - .5|: .0, .3, .071, .4, .375 -> chains 0, 2, 1, 4, 3
    assert fake.pushed == [expected] == [[chains[k].id for k in (0, 2, 1, 4, 3)]]
    assert "pushed 5 tasks" in res.output


@pytest.mark.parametrize(("extra", "message"), [
    (["--order", "uncertainty", "--model", "m", "--scores", "s.jsonl"],
     "give --model (score the chains now) or --scores FILE, not both"),
    (["--model", "m"], "--model is for --order uncertainty (got --order given)"),
    (["--order", "random", "--model", "m"], "--model is for --order uncertainty (got --order "
                                            "random)"),
    (["--order", "given", "--scores", "s.jsonl"], "--scores is for --order uncertainty"),
    (["--order", "uncertainty"], "needs critic scores (P(no error) per chain): --model M or "
                                 "--scores FILE"),
])
def test_push_refuses_bad_combinations_and_pushes_nothing(fake, extra, message):
    res = _push(*extra)
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert fake.pushed == [] and fake.calls == []


def test_push_model_finds_the_project_before_scoring(fake, monkeypatch):
    @contextmanager
    def no_project(url):
        yield type("C", (), {"find_project": lambda self, t: None, "url": "http://ls"})()

    monkeypatch.setattr(annotation.cli, "_client", no_project)
    res = _push("--order", "uncertainty", "--model", "m", "--project", "nope")
    assert res.exit_code == 1
    assert res.output.strip() == ("error: no project 'nope' on http://ls: run `rhf annotate "
                                  "setup`")
    assert fake.calls == [] and fake.pushed == []


def test_annotation_cli_alone_has_no_critic(fake):
    res = _push("--order", "uncertainty", "--model", "m", cli=annotation.cli.app)
    assert res.exit_code == 1
    assert res.output.strip() == (
        "error: --model needs the critic, which only the `rhf` command provides (annotation "
        "does not load models): run `rhf annotate ...`, or give --scores FILE")
    assert fake.pushed == [] and fake.calls == []


def test_score_writes_the_scores_file_push_reads(fake, chains, tmp_path):
    out = tmp_path / "scores.jsonl"
    res = CliRunner().invoke(app, ["annotate", "score", str(ASSETS / "ls_chains.jsonl"),
                                   "--model", "critic-ckpt", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"wrote 5 critic scores to {out}"
    assert fake.precision == ("auto", "auto")
    assert read_scores(out) == fake.scores
    assert [p.name for p in tmp_path.iterdir()] == ["scores.jsonl"]  # no temporary left
    res = CliRunner().invoke(app, ["annotate", "score", str(ASSETS / "ls_chains.jsonl"),
                                   "--out", str(tmp_path / "x.jsonl")])
    assert res.exit_code == 1 and "--model is required" in res.output
    assert not (tmp_path / "x.jsonl").exists()
    # The file gives push the same order as --model.
    res = _push("--order", "uncertainty", "--scores", str(out))
    assert res.exit_code == 0, res.output
    assert fake.pushed == [[chains[k].id for k in (0, 2, 1, 4, 3)]]


# ---- real models --------------------------------------------------------------------------


def _direct(model_path, chains: list[Chain]) -> list[float]:
    """P(no error) computed straight from the backend, all chains in one batch."""
    from inference.backends import Backend

    backend = Backend.load(model_path, device="cpu")
    rows = backend.score_choices([error_types_prompt(c.question, c.text) for c in chains],
                                 list(ERROR_LABELS))
    return [label_probabilities(row)[0] for row in rows]


@pytest.mark.parametrize("kind", ["seq2seq", "causal"])
def test_critic_scores_of_a_real_model_equal_score_choices(kind, chains, request):
    model = TINY_BASE if kind == "seq2seq" else request.getfixturevalue("tiny_llama")
    got = cs.critic_scores(str(model), chains, batch_size=2, progress=False, device="cpu")
    expected = _direct(model, chains)
    assert list(got) == [c.id for c in chains]
    assert all(0.0 <= p <= 1.0 for p in got.values())
    assert len(set(got.values())) == len(chains)  # the text matters: no two chains alike
    assert list(got.values()) == pytest.approx(expected, rel=1e-4, abs=1e-12)


def test_score_chains_reads_the_combined_critic_where_its_combiner_has_a_fit(chains):
    """A combiner fitted for StrategyQA only, with no weight and bias log 3: every StrategyQA
    chain gets 3/4; the Sports chain keeps the learned P; the verifier writes one chain per
    StrategyQA question."""
    from inference.combined_critic import CombinedCritic

    verifier = ScriptedGenerator(lambda p, j: "The answer is yes because it is so.", "verifier")
    combiner = {"features": ["learned", "verification", "agreement"],
                "verifier": {"model": "verifier"},
                "tasks": {"strategyqa": {"mean": [0.0] * 3, "std": [1.0] * 3,
                                         "weights": [0.0] * 3, "bias": math.log(3.0)}}}
    got = cs.score_chains(CombinedCritic(_scripted(chains), verifier, combiner), chains,
                          batch_size=2, progress=False)
    assert list(got.values()) == pytest.approx([0.75] * 4 + [BY_HAND[4]], abs=1e-12)
    assert sum(len(call["prompts"]) for call in verifier.calls) == 4
