"""Encoder-decoder decoding where finished sequences leave the batch.

transformers' ``generate`` keeps every row in the batch until the longest one ends, so a batch
of 512 samples pays for its longest chain at every step. Here the encoder runs once per
prompt (its output repeated for the n samples), and each row that writes EOS is dropped from
the decoder's batch, its cache and the encoder states; later steps cost only the unfinished
rows. Greedy decoding gives exactly ``generate``'s tokens (tested); sampling draws from
softmax(logits / temperature) with one key per row (:mod:`inference.sampling`), so a row's
samples depend on its key alone, not on the other rows of its batch.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from inference.sampling import draw, uniforms


def seq2seq_decode(model: Any, enc: dict[str, Any], *, max_new_tokens: int,
                   do_sample: bool = False, temperature: float = 1.0,
                   num_return_sequences: int = 1, keys: Sequence[int] | None = None
                   ) -> list[list[int]]:
    """Token ids written for each (prompt, sample), prompt-major, without EOS or padding.

    Sampling (``do_sample``) needs ``keys``, one per row (:func:`inference.sampling.row_keys`).
    """
    import torch
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache
    from transformers.modeling_outputs import BaseModelOutput

    config = model.config
    # transformers renamed ``past_key_values`` to ``cache`` (5.2x); pass whichever it takes.
    cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else (
        "past_key_values")
    eos = config.eos_token_id
    start = config.decoder_start_token_id
    n = num_return_sequences
    if do_sample and (keys is None or len(keys) != enc["input_ids"].shape[0] * n):
        raise ValueError("sampling needs one key per (prompt, sample) row")
    with torch.inference_mode():
        hidden = model.get_encoder()(input_ids=enc["input_ids"],
                                     attention_mask=enc["attention_mask"]).last_hidden_state
        hidden = hidden.repeat_interleave(n, dim=0)
        attn = enc["attention_mask"].repeat_interleave(n, dim=0)
        rows = hidden.shape[0]
        alive = torch.arange(rows, device=hidden.device)
        written: list[list[int]] = [[] for _ in range(rows)]
        step_ids = torch.full((rows, 1), start, dtype=torch.long, device=hidden.device)
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        u = torch.from_numpy(uniforms(keys, max_new_tokens)).to(hidden.device) if do_sample \
            else None
        for step in range(max_new_tokens):
            out = model(encoder_outputs=BaseModelOutput(last_hidden_state=hidden),
                        attention_mask=attn, decoder_input_ids=step_ids,
                        use_cache=True, **{cache_kw: cache})
            logits = out.logits[:, -1, :].float()
            if u is not None:
                nxt = draw(logits, temperature, u[alive, step])
            else:
                nxt = logits.argmax(dim=-1)
            for row, tok in zip(alive.tolist(), nxt.tolist(), strict=True):
                if tok != eos:
                    written[row].append(tok)
            done = nxt == eos
            if bool(done.all()):
                break
            if bool(done.any()):
                keep = (~done).nonzero()[:, 0]
                cache = _returned_cache(out)
                cache.batch_select_indices(keep)
                hidden, attn, alive, nxt = hidden[keep], attn[keep], alive[keep], nxt[keep]
            else:
                cache = _returned_cache(out)
            step_ids = nxt[:, None]
    return written


def _returned_cache(out: Any) -> Any:
    """The cache a forward returned, under the installed transformers' name for it."""
    keys = out.keys()
    return out["cache"] if "cache" in keys else out["past_key_values"]
