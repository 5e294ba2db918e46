"""Configurations of real model sizes, for benchmarks and checks that build a random model of
the right shape without downloading weights."""

from __future__ import annotations

# google/flan-t5-large's config.json (783M parameters). Dropout is the hub's 0.1; a model put
# in eval mode for inference ignores it.
FLAN_T5_LARGE: dict = dict(
    d_model=1024, d_ff=2816, d_kv=64, num_heads=16, num_layers=24, num_decoder_layers=24,
    feed_forward_proj="gated-gelu", vocab_size=32128, tie_word_embeddings=False,
    dropout_rate=0.1, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
)
