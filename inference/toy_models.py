"""Tiny random-weight models and a scripted stand-in generator, for tests and benchmarks.

A freshly initialised tiny T5 puts almost all probability on the pad token and so writes
nothing; :func:`build_tiny_t5` zeroes the pad row of its output layer so that greedy and
sampled generation produce real (random) text and every code path is exercised.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def build_tiny_t5(out: str | Path, seed: int = 0) -> Path:
    """training.tiny_model.init_tiny, with the pad token never generated."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    from training.tiny_model import init_tiny

    path = init_tiny(out, seed=seed)
    model = AutoModelForSeq2SeqLM.from_pretrained(path)
    with torch.no_grad():
        model.lm_head.weight[model.config.pad_token_id].zero_()
        model.lm_head.weight.mul_(0.05)
    model.save_pretrained(path, safe_serialization=True)
    return Path(path)


def build_tiny_causal(tokenizer_dir: str | Path, out: str | Path, seed: int = 0) -> Path:
    """A two-layer GPT-2 sharing the tiny tokenizer (stands in for GPT-J)."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = GPT2Config(vocab_size=len(tok), n_embd=64, n_layer=2, n_head=2, n_positions=1024,
                        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
                        pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    out = Path(out)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


class ScriptedGenerator:
    """A stand-in model: ``respond(prompt, sample_index)`` writes each completion and
    ``score(prompt, choice)`` gives log p(choice | prompt) for ``score_choices``.

    Records every call (prompt count, num_return_sequences) so tests can check batching.
    """

    def __init__(self, respond: Callable[[str, int], str], name: str = "scripted",
                 score: Callable[[str, str], float] | None = None) -> None:
        self.respond = respond
        self.score = score
        self.name = name
        self.calls: list[dict] = []

    def score_choices(self, prompts: list[str], choices: list[str],
                      batch_size: int | None = None) -> list[list[float]]:
        if self.score is None:
            raise NotImplementedError(f"{self.name}: no score function given")
        self.calls.append({"prompts": list(prompts), "choices": list(choices)})
        return [[self.score(p, c) for c in choices] for p in prompts]

    def generate(self, prompts: list[str], *, do_sample: bool = False, temperature: float = 1.0,
                 num_return_sequences: int = 1, max_new_tokens: int = 64,
                 seed: int | None = None, batch_size: int | None = None,
                 desc: str | None = None) -> list[list[str]]:
        self.calls.append({"prompts": list(prompts), "n": num_return_sequences,
                           "do_sample": do_sample})
        return [[self.respond(p, j) for j in range(num_return_sequences)] for p in prompts]
