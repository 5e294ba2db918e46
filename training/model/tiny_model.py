"""The embedded default model: a tiny T5 with a subword tokenizer trained on the task text.

No download is needed: the tokenizer is a byte-level BPE trained with `tokenizers` on the
BIG-bench and feedback text in the cache, and the model is built from a config with random
weights. It stands in for Flan-T5 in tests, CI and the demo; a few million parameters.
``FLAN_T5_LARGE`` is a real size's config, for benchmarks that need the right shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

TINY_CONFIG = dict(
    d_model=128, d_ff=512, d_kv=32, num_heads=4, num_layers=3, num_decoder_layers=3,
    # transformers 5 ties T5's output layer to its input embeddings whatever this flag says;
    # True also scales the decoder output by d_model**-0.5 (as T5 v1.0), so a random model
    # starts near log(vocab) instead of a loss near 65.
    feed_forward_proj="gated-gelu", dropout_rate=0.0, tie_word_embeddings=True,
    relative_attention_num_buckets=32, relative_attention_max_distance=128,
)
# Named sizes: "tiny" for tests and CI; "small" is the demo's shipped base (models/tiny-base).
SIZES: dict[str, dict] = {
    "tiny": {},
    "small": dict(d_model=192, d_ff=512, d_kv=48, num_heads=4, num_layers=4,
                  num_decoder_layers=4),
}
# Real model sizes, for benchmarks and checks that build a random model of the right shape
# without downloading weights: google/flan-t5-large's config.json (783M parameters). Dropout
# is the hub's 0.1; a model put in eval mode for inference ignores it.
FLAN_T5_LARGE: dict = dict(
    d_model=1024, d_ff=2816, d_kv=64, num_heads=16, num_layers=24, num_decoder_layers=24,
    feed_forward_proj="gated-gelu", vocab_size=32128, tie_word_embeddings=False,
    dropout_rate=0.1, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
)
TINY_VOCAB_SIZE = 4096
SPECIAL_TOKENS = ["<pad>", "</s>", "<unk>"]


def task_corpus() -> Iterator[str]:
    """All question, explanation and feedback text the toolkit ships prompts for."""
    from feedback_data.files import paths
    from feedback_data.records.jsonl import iter_json_lines
    from feedback_data.records.schema import PAPER_TASKS
    from feedback_data.sources.bigbench import load_bigbench, load_sports_vocab

    for task in PAPER_TASKS:
        for ex in load_bigbench(task):
            yield ex.question
            if ex.explanation:
                yield ex.explanation
    vocab = load_sports_vocab()
    for key in ("players", "player_actions", "games"):
        for names in vocab[key].values():
            yield " ".join(names)
    for path in sorted(paths.feedback_raw_dir().glob("*/*.jsonl")):
        for _, raw in iter_json_lines(path):
            for key in ("Generation", "Correction", "Subquestions"):
                if isinstance(raw.get(key), str):
                    yield raw[key]
            for key in ("FE_reason", "MF_reason", "IR_reason", "LI_reason"):
                if isinstance(raw.get(key), str):
                    yield raw[key]
    # Instruction and label words the recipes use, so they tokenize compactly.
    from feedback_data.text.instructions import vocabulary_text

    yield from vocabulary_text()


def build_tokenizer(vocab_size: int = TINY_VOCAB_SIZE):
    """Train a byte-level BPE on the task corpus and wrap it as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(task_corpus(), trainer=trainer)
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
        model_max_length=512, clean_up_tokenization_spaces=False,
    )


def _save_random(model_class, config, tokenizer, out: Path, seed: int, record: dict) -> None:
    """A randomly initialised model (seeded), its tokenizer and rhf_model.json, in ``out``
    (written whole or not at all)."""
    import torch

    from feedback_data.files.io import atomic_folder

    torch.manual_seed(seed)
    model = model_class(config)
    with atomic_folder(out, ours=lambda p: (p / "rhf_model.json").is_file()) as staged:
        staged.mkdir()
        model.save_pretrained(staged, safe_serialization=True)
        tokenizer.save_pretrained(staged)
        (staged / "rhf_model.json").write_text(json.dumps(record, indent=2) + "\n")


def init_tiny(out: str | Path, seed: int = 0, size: str = "tiny") -> Path:
    """Build the tiny T5 (``size`` from :data:`SIZES`) and its tokenizer; save both."""
    from transformers import T5Config, T5ForConditionalGeneration

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}: expected one of {', '.join(SIZES)}")
    out = Path(out)
    tokenizer = build_tokenizer()
    assert tokenizer.pad_token_id == 0 and tokenizer.eos_token_id == 1
    config = T5Config(
        vocab_size=len(tokenizer), pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        **{**TINY_CONFIG, **SIZES[size]},
    )
    _save_random(T5ForConditionalGeneration, config, tokenizer, out, seed,
                 {"kind": "tiny-t5", "size": size, "seed": seed, "stage": "init"})
    return out


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


TINY_LLAMA_CONFIG = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=1024, tie_word_embeddings=False)


def build_tiny_llama(out: str | Path, seed: int = 0, tokenizer=None) -> Path:
    """A two-layer random Llama with the tiny tokenizer: the decoder-only stand-in for tests.

    The tokenizer has no BOS and, like a decoder-only tokenizer, adds no EOS when it encodes
    a text (the T5 one appends ``</s>``); the causal collator appends EOS to each target.
    """
    from tokenizers import processors
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out)
    tokenizer = tokenizer or build_tokenizer()
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="$A", pair="$A $B")
    config = LlamaConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
                         **TINY_LLAMA_CONFIG)
    _save_random(LlamaForCausalLM, config, tokenizer, out, seed,
                 {"kind": "tiny-llama", "seed": seed, "stage": "init"})
    return out


def build_tiny_t5(out: str | Path, seed: int = 0) -> Path:
    """:func:`init_tiny`, with the pad token never generated.

    A freshly initialised tiny T5 puts almost all probability on the pad token and so writes
    nothing; zeroing the pad row of its output layer makes greedy and sampled generation
    produce real (random) text, so every inference code path is exercised.
    """
    import torch
    from transformers import AutoModelForSeq2SeqLM

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
