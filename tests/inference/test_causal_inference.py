"""Inference with a decoder-only model end to end: a tiny Llama, overfitted in the test on
each method's prompts for two dev questions, then driven through the backend, the four
methods, `rhf chains generate` and the HTTP API. What it writes must parse into the chain
it was taught, which only holds when generation encodes prompts exactly as training did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from feedback_data.tasks.prompts import cot_prompt, default_shots
from feedback_data.text.chain_format import parse_chain
from feedback_data.text.instructions import answer_prompt, error_types_prompt, refine_prompt
from inference.backends import Backend
from inference.chains import select_examples
from inference.methods import run_cot, run_multitask, run_refine, run_wsc

TASK = "strategyqa"
CHAINS = ["The answer is yes because Owls hunt small mammals. Hamsters are small mammals.",
          "The answer is no because Stones cannot swim. Fish can swim."]


@pytest.fixture(scope="module")
def examples(real_data):
    return select_examples(TASK, "dev", limit=2)


@pytest.fixture(scope="module")
def taught_llama(tiny_llama: Path, examples, tmp_path_factory) -> Path:
    """The tiny Llama after 120 full fine-tuning steps on every prompt the methods ask."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.data.collate import make_collator
    from training.data.examples import MULTITASK_TERMS, Pair

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    shots = default_shots(TASK, 1, seed=0)
    pairs = []
    for ex, chain in zip(examples, CHAINS, strict=True):
        pairs += [Pair(answer_prompt(ex.question), chain, "answer"),
                  Pair(cot_prompt(TASK, ex.question, shots), chain, "answer"),
                  Pair(error_types_prompt(ex.question, chain), "no error", "error_types"),
                  Pair(refine_prompt(ex.question, chain), f"no error ; {chain}", "refine")]
    encode, collate = make_collator(model.config, tok, MULTITASK_TERMS, extra_terms=["refine"])
    batch = collate(encode(pairs, tok, 512, 64))
    batch.pop("term")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(120):
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert loss.item() < 0.05
    out = tmp_path_factory.mktemp("taught-llama")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def backend(taught_llama: Path) -> Backend:
    return Backend.load(taught_llama, device="cpu", batch_size=8)


def test_prompts_encode_as_in_training(backend: Backend):
    from training.data.collate import causal_prompt_ids

    assert not backend.is_encoder_decoder
    prompt = answer_prompt("Is it cold?")
    enc = backend._encode([prompt, "Q:"])
    ids = causal_prompt_ids(backend.tokenizer, prompt, backend.max_source_length)
    assert enc["input_ids"][0].tolist() == ids  # the longer prompt: no padding, no EOS
    row = enc["input_ids"][1].tolist()
    assert row[-1] != backend.tokenizer.eos_token_id and row[0] == backend.tokenizer.pad_token_id
    assert enc["attention_mask"][1].tolist()[0] == 0  # left padding


def test_score_matches_the_training_loss(backend: Backend):
    """Backend.score is minus the summed training cross-entropy of the target tokens."""
    from training.data.collate import make_collator
    from training.data.examples import MULTITASK_TERMS, Pair

    prompt, target = answer_prompt("Is it cold?"), "The answer is yes because ice."
    encode, collate = make_collator(backend.model.config, backend.tokenizer,
                                    MULTITASK_TERMS)
    rows = encode([Pair(prompt, target, "answer")], backend.tokenizer, 512, 64)
    batch = collate(rows)
    batch.pop("term")
    with torch.no_grad():
        mean_loss = backend.model(**batch).loss.item()
    n_target = sum(label != -100 for label in rows[0].labels)
    assert backend.score([prompt], [target])[0] == pytest.approx(-mean_loss * n_target,
                                                                rel=1e-4)


def test_left_padded_batch_equals_one_by_one(backend: Backend, examples):
    prompts = [answer_prompt(examples[0].question), "Q: x\nA:",
               answer_prompt(examples[1].question)]
    batched = backend.generate(prompts, max_new_tokens=24)
    alone = [backend.generate([p], max_new_tokens=24)[0] for p in prompts]
    assert batched == alone


def test_each_method_writes_the_taught_chain(backend: Backend, examples):
    golds = [parse_chain(c)[0] for c in CHAINS]
    shots = default_shots(TASK, 1, seed=0)
    cot = run_cot(backend, examples, TASK, shots, max_new_tokens=40)
    multi = run_multitask(backend, examples, max_new_tokens=40)
    for preds in (cot, multi):
        assert [p.text for p in preds] == CHAINS
        assert [p.answer for p in preds] == golds
    wsc = run_wsc(backend, examples, n=3, w=0.5, seed=0, max_new_tokens=40)
    assert [p.answer for p in wsc] == golds
    for p in wsc:
        assert len(p.meta["texts"]) == 3 and p.meta["critiques"] == ["no error"] * 3
        assert p.meta["weights"] == [1.0, 1.0, 1.0]
    refined = run_refine(backend, examples, CHAINS, rounds=3, max_new_tokens=40)
    for p, chain in zip(refined, CHAINS, strict=True):
        assert (p.meta["stop"], p.meta["rounds"], p.text) == ("no_error", 1, chain)


def test_chains_generate_cli_writes_parsed_chains(taught_llama: Path, tmp_path: Path,
                                                  examples):
    from typer.testing import CliRunner

    from rhf_cli import app

    out = tmp_path / "chains.jsonl"
    res = CliRunner().invoke(app, ["chains", "generate", "--model", str(taught_llama),
                                   "--task", TASK, "--out", str(out), "--split", "dev",
                                   "--limit", "2", "--k", "1", "--max-new-tokens", "40"])
    assert res.exit_code == 0, res.output
    chains = [json.loads(line) for line in out.read_text().splitlines()]
    assert [c["example_id"] for c in chains] == [ex.id for ex in examples]
    for c, taught in zip(chains, CHAINS, strict=True):
        answer, steps, parsed = parse_chain(taught)
        assert (c["parsed"], c["answer"], c["steps"], c["text"]) == (True, answer, steps,
                                                                     taught)


def test_serve_answers_with_the_causal_model(taught_llama: Path, examples):
    from fastapi.testclient import TestClient

    from pipeline.serve import create_app

    # Taught both instructions: it serves as the multitask and the refine model.
    client = TestClient(create_app(model=str(taught_llama), refine_model=str(taught_llama)))
    r = client.post("/v1/answer", json={"task": TASK, "question": examples[0].question,
                                        "max_new_tokens": 40})
    assert r.status_code == 200 and r.json()["text"] == CHAINS[0]
    r = client.post("/v1/refine", json={"task": TASK, "question": examples[1].question,
                                        "chain": CHAINS[1], "rounds": 2, "max_new_tokens": 40})
    assert r.status_code == 200 and r.json()["stop"] == "no_error"


def test_a_tokenizer_that_appends_eos_does_not_end_the_prompt(backend: Backend, examples):
    """The tiny T5 tokenizer (used by the toy GPT-2) appends </s> to every text: a causal
    prompt must not end with it, or the model would be asked to continue past an EOS."""
    from tokenizers import processors
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(backend.info["path"])
    eos = tok.eos_token_id
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", eos)])
    assert tok("A:")["input_ids"][-1] == eos
    appending = Backend(model=backend.model, tokenizer=tok, name="t", is_encoder_decoder=False)
    assert eos not in appending._encode(["Q: cats?\nA:"])["input_ids"][0].tolist()
    assert appending.generate([answer_prompt(examples[0].question)],
                              max_new_tokens=40) == [[CHAINS[0]]]


def test_rhf_eval_runs_the_causal_model(taught_llama: Path, tmp_path: Path, examples):
    """`rhf eval` end to end: every method's saved predictions are the taught chains."""
    from typer.testing import CliRunner

    from rhf_cli import app

    res = CliRunner().invoke(app, ["eval", "--model", str(taught_llama),
                                   "--base-model", str(taught_llama),
                                   "--refine-model", str(taught_llama), "--out",
                                   str(tmp_path / "eval"), "--tasks", TASK, "--limit", "2",
                                   "--k", "1", "--n", "2", "--rounds", "2", "--seeds", "0",
                                   "--max-new-tokens", "40", "--no-calibration"])
    assert res.exit_code == 0, res.output
    files = sorted((tmp_path / "eval").rglob("*.jsonl"))
    assert len(files) >= 4  # cot, multitask, wsc, refine
    for f in files:
        preds = [json.loads(line) for line in f.read_text().splitlines()]
        assert [p["example_id"] for p in preds] == [ex.id for ex in examples], f
        assert [p["text"] for p in preds] == CHAINS, f
