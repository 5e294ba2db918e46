"""Seq2seq decoding where finished rows leave the batch: same greedy tokens as transformers'
generate, fewer rows decoded, samples fixed by the seed.

The equality that matters is on the shipped base (models/tiny-base), whose rows write EOS at
different steps, so rows leave the batch while others go on; the random tiny T5 never ends
early. A copy of the decoder with its row bookkeeping off by one must fail that check.
"""

import inspect
from pathlib import Path

import pytest
import torch

from feedback_data.tasks.prompts import cot_prompt
from inference import decoding
from inference.backends import Backend
from inference.decoding import seq2seq_decode

SHIPPED_BASE = Path(__file__).resolve().parents[2] / "models" / "tiny-base"
# Sports rows end after about 30 tokens, StrategyQA rows later or never (within 64).
EARLY_AND_LATE = [cot_prompt(task, q, []) for task, q in (
    ("sports_understanding", "Lionel Messi scored a penalty kick."),
    ("sports_understanding", "Tom Brady threw a touchdown pass in the World Cup."),
    ("strategyqa", "Could a llama birth twice during the War in Vietnam (1945-46)?"),
    ("sports_understanding", "LeBron James hit a three pointer."),
    ("strategyqa", "Is water wet?"),
    ("sports_understanding", "Sidney Crosby scored a goal in the NBA Finals."),
    ("strategyqa", "Did Aristotle use a laptop?"),
    ("sports_understanding", "Kyle Tucker hit a home run."),
)]

PROMPTS = ["Q: Is water wet?\nA:", "Q: Did Aristotle use a laptop?\nA:",
           "Q: Lionel Messi scored a penalty kick. Is this sentence plausible?\nA:",
           "Q: Could a llama birth twice during the War in Vietnam (1945-46)?\nA:"]


def _generate_ids(backend, enc, max_new_tokens):
    with torch.inference_mode():
        seqs = backend.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                      num_beams=1, pad_token_id=backend.tokenizer.pad_token_id)
    special = {backend.tokenizer.pad_token_id, backend.tokenizer.eos_token_id}
    return [[t for t in row.tolist()[1:] if t not in special] for row in seqs]


def test_greedy_tokens_equal_generate(tiny_t5):
    backend = Backend.load(tiny_t5)
    enc = backend._encode(PROMPTS)
    assert seq2seq_decode(backend.model, enc, max_new_tokens=12) == _generate_ids(
        backend, enc, 12)


@pytest.fixture(scope="module")
def shipped():
    backend = Backend.load(str(SHIPPED_BASE))
    enc = backend._encode(EARLY_AND_LATE)
    return backend, enc, _generate_ids(backend, enc, 64)


def _rows_per_step(model, decode, enc, max_new_tokens):
    """(tokens, decoder rows at each step) of ``decode``."""
    rows: list[int] = []

    def hook(_module, _args, kwargs):
        if kwargs.get("decoder_input_ids") is not None:
            rows.append(kwargs["decoder_input_ids"].shape[0])

    handle = model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        return decode(model, enc, max_new_tokens=max_new_tokens), rows
    finally:
        handle.remove()


def test_rows_that_finish_first_leave_the_batch_and_the_tokens_equal_generate(shipped):
    backend, enc, want = shipped
    got, rows = _rows_per_step(backend.model, seq2seq_decode, enc, 64)
    assert got == want
    lengths = [len(r) for r in got]
    # Rows end at several different steps, some long before others, some never.
    assert len(set(lengths)) >= 5 and min(lengths) < 40 and max(lengths) == 64
    # The batch shrinks as they end: each step decodes exactly the rows still writing.
    assert rows == [sum(n >= step for n in lengths) for step in range(len(rows))]
    assert rows[0] == 8 and rows[-1] < rows[0]


def _mutant(old: str, new: str):
    """seq2seq_decode compiled from inference/decoding.py with ``old`` replaced by ``new``."""
    source = inspect.getsource(decoding)
    assert source.count(old) == 1, f"mutation target {old!r} not found once in decoding.py"
    namespace: dict = {"__name__": "decoding_mutant"}
    exec(compile(source.replace(old, new), "decoding_mutant.py", "exec"), namespace)
    return namespace["seq2seq_decode"]


@pytest.mark.parametrize("old, new", [
    # which prompt a token belongs to, shifted by one row once a row has left
    ("alive[keep]", "alive[(keep - 1).clamp(min=0)]"),
    # the cache and encoder states kept for the wrong rows
    ("cache.batch_select_indices(keep)",
     "cache.batch_select_indices((keep + 1).clamp(max=len(done) - 1))"),
], ids=["row-ids", "cache-rows"])
def test_an_off_by_one_in_the_row_bookkeeping_fails_the_check(shipped, old, new):
    backend, enc, want = shipped
    got, _ = _rows_per_step(backend.model, _mutant(old, new), enc, 64)
    assert got != want


def test_finished_rows_leave_the_batch(tiny_t5):
    backend = Backend.load(tiny_t5)
    model = backend.model
    eos = model.config.eos_token_id
    # Make row 0 end at once: EOS gets a huge logit for every row, except rows 1-3 are
    # steered away by banning EOS through a bias hook on their positions.
    rows_seen: list[int] = []

    def hook(_module, args, kwargs):
        ids = kwargs.get("decoder_input_ids")
        if ids is not None:
            rows_seen.append(ids.shape[0])

    handle = model.register_forward_pre_hook(hook, with_kwargs=True)
    original = model.lm_head.forward
    step = {"n": 0}

    def steered(hidden):
        logits = original(hidden)
        logits[..., eos] = -1e9
        if step["n"] == 0:  # first step: row 0 (of 4) writes EOS, the others go on
            logits[0, -1, eos] = 1e9
        step["n"] += 1
        return logits

    model.lm_head.forward = steered
    try:
        out = seq2seq_decode(model, backend._encode(PROMPTS), max_new_tokens=5)
    finally:
        model.lm_head.forward = original
        handle.remove()
    assert out[0] == [] and all(len(row) == 5 for row in out[1:])
    assert rows_seen == [4, 3, 3, 3, 3]


def test_sampling_is_fixed_by_the_seed(tiny_t5):
    backend = Backend.load(tiny_t5)
    a = backend.generate(PROMPTS, do_sample=True, temperature=0.7, num_return_sequences=3,
                         max_new_tokens=8, seed=5)
    b = backend.generate(PROMPTS, do_sample=True, temperature=0.7, num_return_sequences=3,
                         max_new_tokens=8, seed=5)
    c = backend.generate(PROMPTS, do_sample=True, temperature=0.7, num_return_sequences=3,
                         max_new_tokens=8, seed=6)
    assert a == b and a != c
    assert [len(x) for x in a] == [3, 3, 3, 3]
