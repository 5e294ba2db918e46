"""Same text in training and inference: sources are cut by one rule at one length, and a
causal prompt keeps its instruction line and its tail."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from feedback_data.text.instructions import answer_prompt, error_types_prompt
from feedback_data.text.source_tokens import cut_middle, source_ids
from inference.backends import DEFAULT_MAX_SOURCE_LENGTH, Backend, trained_source_length
from training.data.collate import causal_prompt_ids, encode_causal_pairs, encode_pairs
from training.data.examples import Pair

LONG_CHAIN = "The answer is no because " + " ".join(
    f"Fact number {i} is about the history of the city." for i in range(40)) + " The end."
LONG_QUESTION = "Is " + " and ".join(f"river {i}" for i in range(60)) + " longer than the Nile?"


def test_cut_middle_by_hand():
    assert cut_middle([1, 2, 3], head=2, max_len=5) == [1, 2, 3]
    assert cut_middle(list(range(10)), head=3, max_len=6) == [0, 1, 2, 7, 8, 9]
    assert cut_middle(list(range(10)), head=5, max_len=6) == [0, 1, 2, 7, 8, 9]  # half at most
    assert cut_middle(list(range(10)), head=0, max_len=3) == [7, 8, 9]
    assert cut_middle(list(range(10)), head=4, max_len=1) == [9]


def test_seq2seq_training_and_inference_give_the_same_ids(tiny_t5: Path):
    backend = Backend.load(tiny_t5, max_source_length=40, device="cpu")
    tok = backend.tokenizer
    prompt = error_types_prompt("Is Paris old?", LONG_CHAIN)
    assert len(tok(prompt)["input_ids"]) > 40
    trained = encode_pairs([Pair(prompt, "no error", "error_types")], tok, 40, 16)[0].input_ids
    asked = backend._encode([prompt, "Q: short"])
    assert asked["input_ids"][0].tolist() == trained and len(trained) == 40
    # the instruction line survives, the source still ends with the chain's end and EOS
    line = tok(prompt.split("\n")[0], add_special_tokens=False)["input_ids"]
    assert trained[:len(line)] == line
    assert trained[-1] == tok.eos_token_id
    assert tok.decode(trained, skip_special_tokens=True).endswith("The end.")
    # a short source is right-padded and untouched (what the tokenizer alone gives)
    short = tok("Q: short")["input_ids"]
    assert asked["input_ids"][1].tolist()[:len(short)] == short
    assert asked["attention_mask"][1].tolist() == [1] * len(short) + [0] * (40 - len(short))


@pytest.mark.parametrize("prompt, tail", [
    (answer_prompt(LONG_QUESTION), "A:"),
    (error_types_prompt("Is Paris old?", LONG_CHAIN), "The end."),
])
def test_causal_prompt_keeps_its_instruction_and_its_tail(tiny_causal: Path, prompt, tail):
    backend = Backend.load(tiny_causal, max_source_length=48, device="cpu")
    tok = backend.tokenizer
    whole = causal_prompt_ids(tok, prompt)
    assert len(whole) > 48
    ids = backend._encode([prompt])["input_ids"][0].tolist()
    assert ids == causal_prompt_ids(tok, prompt, 48)
    assert ids == encode_causal_pairs([Pair(prompt, "x", "answer")], tok, 48, 8)[0].input_ids[:48]
    text = tok.decode(ids).strip()
    instruction = prompt.split("\n")[0]
    assert text.startswith(instruction + "\n") and text.endswith(tail)
    assert len(text) < len(prompt)  # the middle went
    assert tok.eos_token_id not in ids  # the target continues the prompt


def test_the_first_line_never_takes_more_than_half(tiny_causal: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_causal)
    prompt = "word " * 100 + "\nQ: x\nA:"
    ids = source_ids(tok, [prompt], 20, causal=True)[0]
    assert len(ids) == 20 and tok.decode(ids).strip().endswith("A:")
    assert tok.decode(ids).strip().startswith("word word")


def test_inference_reads_the_trained_length(tiny_t5: Path, tmp_path: Path):
    assert Backend.load(tiny_t5, device="cpu").max_source_length == DEFAULT_MAX_SOURCE_LENGTH
    final = tmp_path / "run" / "final"
    shutil.copytree(tiny_t5, final)
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump(
        {"objective": "multitask", "data": {"max_source_len": 24}}))
    backend = Backend.load(tmp_path / "run", device="cpu")
    assert backend.max_source_length == 24
    assert backend.info["max_source_length"] == {"value": 24,
                                                 "from": "checkpoint (data.max_source_len)"}
    assert backend._encode([LONG_CHAIN])["input_ids"].shape[1] == 24
    given = Backend.load(tmp_path / "run", device="cpu", max_source_length=30)
    assert given.max_source_length == 30 and given.info["max_source_length"]["from"] == "given"


@pytest.mark.parametrize("info, length", [
    ({"config": {"data": {"max_source_len": 96}}}, 96),
    ({"rhf_model": {"max_source_len": 128}}, 128),
    ({"config": {"data": {"max_source_len": 64}}, "rhf_model": {"max_source_len": 128}}, 64),
    ({"config": {"error": "bad yaml"}}, None),
    ({"config": {"data": {"max_source_len": "256"}}}, None),
    ({"config": {"data": {"max_source_len": True}}}, None),
    ({"config": "not a mapping"}, None),
    ({}, None),
])
def test_trained_source_length(info, length):
    assert trained_source_length(info) == length
