"""One generation backend over transformers' Auto classes: seq2seq (Flan-T5) or causal (GPT-J).

``--model`` accepts a hub id, a model folder, or a training RUN_DIR (its ``final/`` is used).
A folder holding ``adapter_config.json`` is a peft (LoRA) adapter and is loaded with peft.

Sampling with ``num_return_sequences=n`` makes ONE generate call per batch: transformers runs
the encoder once on the batch and repeats its outputs n times (``_expand_inputs_for_generation``),
so an encoder-decoder never re-encodes a question for its n samples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feedback_data.source_tokens import source_ids
from inference.decoding import seq2seq_decode

STOP_MARKERS = ("\nQ:", "\n\nQuestion:")
DEFAULT_MAX_SOURCE_LENGTH = 512


class ModelLoadError(ValueError):
    """A --model value that cannot be resolved or loaded."""


def resolve_model_path(spec: str | Path) -> str:
    """RUN_DIR -> RUN_DIR/final; a folder -> itself; anything else is taken as a hub id."""
    path = Path(spec)
    if (path / "final").is_dir():
        return str(path / "final")
    if path.is_dir():
        return str(path)
    if path.exists():
        raise ModelLoadError(f"{spec}: expected a model folder, a RUN_DIR or a hub id, got a file")
    if str(spec).startswith((".", "/", "~")):
        raise ModelLoadError(f"{spec}: no such model folder")
    return str(spec)


def checkpoint_info(resolved: str) -> dict[str, Any]:
    """What the checkpoint says about itself (run.json, config.yaml, rhf_model.json), if any."""
    path = Path(resolved)
    info: dict[str, Any] = {"path": resolved}
    if not path.is_dir():
        return info
    for folder in (path, path.parent):
        for name in ("run.json", "rhf_model.json"):
            f = folder / name
            if f.is_file() and name.removesuffix(".json") not in info:
                try:
                    info[name.removesuffix(".json")] = json.loads(f.read_text())
                except json.JSONDecodeError:
                    info[name.removesuffix(".json")] = {"error": f"{f}: invalid JSON"}
        cfg = folder / "config.yaml"
        if cfg.is_file() and "config" not in info:
            import yaml

            try:
                info["config"] = yaml.safe_load(cfg.read_text())
            except yaml.YAMLError:
                info["config"] = {"error": f"{cfg}: invalid YAML"}
    info["peft"] = (path / "adapter_config.json").is_file()
    return info


def chain_order_of(info: dict[str, Any]) -> str:
    """``data.chain_order`` from a checkpoint's config.yaml, else 'answer_first'."""
    config = info.get("config") if isinstance(info, dict) else None
    data = config.get("data") if isinstance(config, dict) else None
    order = data.get("chain_order") if isinstance(data, dict) else None
    return order if isinstance(order, str) else "answer_first"


def trained_source_length(info: dict[str, Any]) -> int | None:
    """The source length a checkpoint was trained with: ``data.max_source_len`` of its
    config.yaml (a training run writes it into every checkpoint), else ``max_source_len`` of
    its rhf_model.json; None when it says neither."""
    config, record = info.get("config"), info.get("rhf_model")
    data = config.get("data") if isinstance(config, dict) else None
    for value in (data.get("max_source_len") if isinstance(data, dict) else None,
                  record.get("max_source_len") if isinstance(record, dict) else None):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
    return None


@dataclass
class Backend:
    """A loaded model and tokenizer with batched ``generate`` and teacher-forced ``score``."""

    model: Any
    tokenizer: Any
    name: str
    is_encoder_decoder: bool
    max_source_length: int = DEFAULT_MAX_SOURCE_LENGTH
    batch_size: int = 32
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, spec: str | Path, *, batch_size: int = 32,
             max_source_length: int | None = None, device: str | None = None) -> Backend:
        """``max_source_length`` None: the length the checkpoint was trained with
        (:func:`trained_source_length`), else 512; ``info["max_source_length"]`` says which."""
        import torch
        from transformers import AutoConfig, AutoTokenizer

        resolved = resolve_model_path(spec)
        info = checkpoint_info(resolved)
        if max_source_length is None:
            trained = trained_source_length(info)
            max_source_length = trained or DEFAULT_MAX_SOURCE_LENGTH
            origin = "checkpoint (data.max_source_len)" if trained else "default"
        else:
            origin = "given"
        info["max_source_length"] = {"value": max_source_length, "from": origin}
        try:
            if info.get("peft"):
                adapter = json.loads((Path(resolved) / "adapter_config.json").read_text())
                base = adapter.get("base_model_name_or_path") or ""
                config = AutoConfig.from_pretrained(base)
                if config.is_encoder_decoder:
                    from peft import AutoPeftModelForSeq2SeqLM as PeftAuto
                else:
                    from peft import AutoPeftModelForCausalLM as PeftAuto
                model = PeftAuto.from_pretrained(resolved)
                tok_src = resolved if (Path(resolved) / "tokenizer_config.json").exists() else base
            else:
                config = AutoConfig.from_pretrained(resolved)
                if config.is_encoder_decoder:
                    from transformers import AutoModelForSeq2SeqLM as Auto
                else:
                    from transformers import AutoModelForCausalLM as Auto
                model = Auto.from_pretrained(resolved)
                tok_src = resolved
            tokenizer = AutoTokenizer.from_pretrained(tok_src)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(f"cannot load model {spec!r}: {first}") from exc
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        if not config.is_encoder_decoder:
            tokenizer.padding_side = "left"
        model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model.eval()
        return cls(model=model, tokenizer=tokenizer, name=str(spec),
                   is_encoder_decoder=bool(config.is_encoder_decoder),
                   max_source_length=max_source_length, batch_size=batch_size, info=info)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    @property
    def chain_order(self) -> str:
        """The chain order the model was trained on (its config's ``data.chain_order``);
        'answer_first' for a model without one (a base model, the paper's form)."""
        return chain_order_of(self.info)

    def _encode(self, prompts: list[str]) -> Any:
        """Sources cut by the rule training uses (feedback_data.source_tokens.source_ids)."""
        if not self.is_encoder_decoder:
            return self._encode_causal(prompts)
        import torch

        rows = source_ids(self.tokenizer, prompts, self.max_source_length, causal=False)
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
            mask[i, :len(r)] = 1
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}

    def _prompt_ids(self, prompt: str) -> list[int]:
        """A causal prompt as training encodes it (training.collate.causal_prompt_ids)."""
        return source_ids(self.tokenizer, [prompt], self.max_source_length, causal=True)[0]

    def _encode_causal(self, prompts: list[str]) -> Any:
        """Left-padded prompts, so every row's continuation starts at the same column."""
        import torch

        rows = source_ids(self.tokenizer, prompts, self.max_source_length, causal=True)
        width = max(1, max(len(r) for r in rows))
        ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(rows):
            if r:
                ids[i, width - len(r):] = torch.tensor(r)
                mask[i, width - len(r):] = 1
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}

    def generate(self, prompts: list[str], *, do_sample: bool = False, temperature: float = 1.0,
                 num_return_sequences: int = 1, max_new_tokens: int = 64,
                 seed: int | None = None, batch_size: int | None = None,
                 desc: str | None = None) -> list[list[str]]:
        """For each prompt, ``num_return_sequences`` completions (prompt not included).

        Prompts are batched in order of length (less padding) and the results put back in
        the caller's order. With a seed, sampling is reproducible for the same inputs. An
        encoder-decoder decodes with :func:`inference.decoding.seq2seq_decode` (finished
        sequences leave the batch); a causal model with ``generate``.
        ``desc`` shows a progress bar over the batches.
        """
        import torch
        from tqdm.auto import tqdm

        if not prompts:
            return []
        n = num_return_sequences
        size = max(1, (batch_size or self.batch_size) // (n if n > 1 else 1))
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        out: list[list[str]] = [[] for _ in prompts]
        generator = None
        if seed is not None:
            torch.manual_seed(seed)
            generator = torch.Generator(device=self.device).manual_seed(seed)
        kwargs: dict[str, Any] = dict(max_new_tokens=max_new_tokens, num_return_sequences=n,
                                      do_sample=do_sample,
                                      pad_token_id=self.tokenizer.pad_token_id)
        if not self.is_encoder_decoder and self.tokenizer.eos_token_id is not None:
            kwargs["eos_token_id"] = self.tokenizer.eos_token_id  # training ends targets so
        if do_sample:
            kwargs.update(temperature=temperature, top_k=0, top_p=1.0)
        else:
            kwargs.update(num_beams=1)
        starts = range(0, len(order), size)
        for start in tqdm(starts, desc=desc, disable=desc is None or len(starts) < 2,
                          leave=False):
            idx = order[start:start + size]
            enc = self._encode([prompts[i] for i in idx])
            if self.is_encoder_decoder:
                seqs = seq2seq_decode(self.model, enc, max_new_tokens=max_new_tokens,
                                      do_sample=do_sample, temperature=temperature,
                                      num_return_sequences=n, generator=generator)
            else:
                with torch.inference_mode():
                    seqs = self.model.generate(**enc, **kwargs)
                seqs = seqs[:, enc["input_ids"].shape[1]:]
            texts = self.tokenizer.batch_decode(seqs, skip_special_tokens=True)
            for j, i in enumerate(idx):
                out[i] = [cut_at_stop(t) for t in texts[j * n:(j + 1) * n]]
        return out

    def score(self, prompts: list[str], targets: list[str],
              batch_size: int | None = None) -> list[float]:
        """Sum of the log-probabilities of each target given its prompt (teacher forced).

        A seq2seq target ends with EOS, so the score is that of the complete answer.
        """
        import torch

        if len(prompts) != len(targets):
            raise ValueError(f"{len(prompts)} prompts but {len(targets)} targets")
        size = batch_size or self.batch_size
        scores: list[float] = []
        for start in range(0, len(prompts), size):
            p, t = prompts[start:start + size], targets[start:start + size]
            with torch.inference_mode():
                scores += (self._score_seq2seq(p, t) if self.is_encoder_decoder
                           else self._score_causal(p, t))
        return scores

    def score_choices(self, prompts: list[str], choices: list[str],
                      batch_size: int | None = None) -> list[list[float]]:
        """Log-probability of each choice after each prompt; a seq2seq model encodes each
        prompt once and reuses the encoding for every choice."""
        import torch

        if not self.is_encoder_decoder:
            flat = self.score([p for p in prompts for _ in choices],
                              [c for _ in prompts for c in choices], batch_size=batch_size)
            return [flat[i * len(choices):(i + 1) * len(choices)] for i in range(len(prompts))]
        from transformers.modeling_outputs import BaseModelOutput

        labels = self.tokenizer(text_target=list(choices), return_tensors="pt", padding=True)
        ids = labels["input_ids"].to(self.device)
        mask = labels["attention_mask"].to(self.device)
        k = len(choices)
        size = max(1, (batch_size or self.batch_size) // k)
        out: list[list[float]] = []
        for start in range(0, len(prompts), size):
            enc = self._encode(prompts[start:start + size])
            b = enc["input_ids"].shape[0]
            with torch.inference_mode():
                hidden = self.model.get_encoder()(**enc).last_hidden_state
                logits = self.model(
                    encoder_outputs=BaseModelOutput(last_hidden_state=hidden.repeat_interleave(
                        k, dim=0)),
                    attention_mask=enc["attention_mask"].repeat_interleave(k, dim=0),
                    labels=ids.masked_fill(mask == 0, -100).repeat(b, 1)).logits
            rep_ids, rep_mask = ids.repeat(b, 1), mask.repeat(b, 1)
            logp = torch.log_softmax(logits.float(), -1).gather(-1, rep_ids[..., None])[..., 0]
            flat = (logp * rep_mask).sum(-1).tolist()
            out += [flat[i * k:(i + 1) * k] for i in range(b)]
        return out

    def _score_seq2seq(self, prompts: list[str], targets: list[str]) -> list[float]:
        import torch

        enc = self._encode(prompts)
        labels = self.tokenizer(text_target=targets, return_tensors="pt", padding=True)
        ids = labels["input_ids"].to(self.device)
        mask = labels["attention_mask"].to(self.device)
        logits = self.model(**enc, labels=ids.masked_fill(mask == 0, -100)).logits
        logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids.unsqueeze(-1))[..., 0]
        return (logp * mask).sum(-1).tolist()

    def _score_causal(self, prompts: list[str], targets: list[str]) -> list[float]:
        import torch

        tok = self.tokenizer
        rows = []
        for p, t in zip(prompts, targets, strict=True):
            p_ids = self._prompt_ids(p)
            t_ids = tok(" " + t.strip(), add_special_tokens=False)["input_ids"]
            if tok.eos_token_id is not None:
                t_ids = t_ids + [tok.eos_token_id]
            rows.append((p_ids, t_ids))
        width = max(len(p) + len(t) for p, t in rows)
        ids = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
        attn = torch.zeros_like(ids)
        tmask = torch.zeros_like(ids)
        for r, (p_ids, t_ids) in enumerate(rows):
            seq = p_ids + t_ids
            off = width - len(seq)  # left padding
            ids[r, off:] = torch.tensor(seq)
            attn[r, off:] = 1
            tmask[r, off + len(p_ids):] = 1
        ids, attn, tmask = ids.to(self.device), attn.to(self.device), tmask.to(self.device)
        positions = (attn.cumsum(-1) - 1).clamp(min=0)  # left padding must not shift positions
        logits = self.model(input_ids=ids, attention_mask=attn,
                            position_ids=positions).logits[:, :-1]
        logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
        return (logp * tmask[:, 1:]).sum(-1).tolist()


def cut_at_stop(text: str) -> str:
    """Drop what a model writes after the answer (a causal model starts the next shot)."""
    for marker in STOP_MARKERS:
        pos = text.find(marker)
        if pos != -1:
            text = text[:pos]
    return text.strip()
