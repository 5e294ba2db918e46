"""Seq2seq decoding where finished rows leave the batch: same greedy tokens as transformers'
generate, fewer rows decoded, samples fixed by the seed."""

import torch

from inference.backends import Backend
from inference.decoding import seq2seq_decode

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
