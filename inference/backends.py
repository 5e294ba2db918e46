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

from feedback_data.text.source_tokens import source_ids
from inference.decoding import seq2seq_decode
from inference.precision import resolve_device, resolve_dtype, torch_dtype
from inference.sampling import KeyedSampler, row_keys
from inference.sharding import SINGLE, DataParallel, plan_batches, run_batches

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


def _text(path: Path) -> str:
    """A checkpoint's own file as text; bytes that are not UTF-8 are a ModelLoadError naming
    the file and the byte offset."""
    from feedback_data.files.io import NotUtf8, read_utf8

    try:
        return read_utf8(path)
    except NotUtf8 as exc:
        raise ModelLoadError(str(exc)) from None


# The files a checkpoint (or its run folder) describes itself with: name -> (key in
# checkpoint_info, what the file holds).
CHECKPOINT_FILES = {"run.json": ("run", "run record"),
                    "rhf_model.json": ("rhf_model", "model record"),
                    "config.yaml": ("config", "training config")}


def _unreadable(path: Path, why: str) -> ModelLoadError:
    return ModelLoadError(f"{path}: cannot read the checkpoint's "
                          f"{CHECKPOINT_FILES[path.name][1]} ({why}): fix or remove it")


def _read_checkpoint_file(path: Path) -> dict[str, Any]:
    """One of CHECKPOINT_FILES as a mapping. A file that cannot be read, does not parse or
    is not a mapping is a ModelLoadError naming it: never a default in its place (the chain
    order and source length the model was trained with come from these files)."""
    import yaml

    try:
        text = _text(path)
    except OSError as exc:
        raise _unreadable(path, exc.strerror or type(exc).__name__) from None
    try:
        if path.suffix == ".json":
            value = json.loads(text)
        else:
            value = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise _unreadable(path, f"invalid JSON: {exc.msg}, line {exc.lineno}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise _unreadable(path, f"invalid YAML: {getattr(exc, 'problem', None) or exc}"
                                f"{where}") from None
    if not isinstance(value, dict):
        raise _unreadable(path, f"a {type(value).__name__}, not a mapping")
    return value


def checkpoint_info(resolved: str) -> dict[str, Any]:
    """What the checkpoint says about itself (run.json, config.yaml, rhf_model.json), if any:
    each read from the checkpoint's folder, else its parent (the run folder). A file that is
    absent is left out (a Hub model has none); one that is present but unreadable is a
    ModelLoadError naming it."""
    path = Path(resolved)
    info: dict[str, Any] = {"path": resolved}
    if not path.is_dir():
        return info
    for folder in (path, path.parent):
        for name, (key, _what) in CHECKPOINT_FILES.items():
            f = folder / name
            if f.is_file() and key not in info:
                info[key] = _read_checkpoint_file(f)
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
    dtype: str = "float32"
    dp: DataParallel = SINGLE
    # Length-aware batching: prompts are sorted by token length within windows of this many
    # (None: the whole call), batched, and their results put back in the caller's order.
    sort_window: int | None = None
    length_aware: bool = True

    @classmethod
    def load(cls, spec: str | Path, *, batch_size: int = 32,
             max_source_length: int | None = None, device: str | None = None,
             dtype: str | None = "auto", data_parallel: DataParallel | None = None) -> Backend:
        """Load ``spec`` on ``device`` (``auto``: this process's GPU, else the CPU) in
        ``dtype`` (:data:`inference.precision.DTYPES`; ``auto``: bfloat16 on a GPU that runs
        it, else float32). With ``data_parallel`` (:func:`inference.sharding.current` under a
        launch) each call runs this process's share of the batches. ``max_source_length``
        None: the length the checkpoint was trained with (:func:`trained_source_length`),
        else 512; ``info["max_source_length"]`` says which."""
        from transformers import AutoConfig, AutoTokenizer

        dp = data_parallel or SINGLE
        where = resolve_device(device, dp.local_rank)
        dtype_name = resolve_dtype(dtype, where)
        weights = {"dtype": torch_dtype(dtype_name)}
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
                adapter = json.loads(_text(Path(resolved) / "adapter_config.json"))
                base = adapter.get("base_model_name_or_path") or ""
                config = AutoConfig.from_pretrained(base)
                if config.is_encoder_decoder:
                    from peft import AutoPeftModelForSeq2SeqLM as PeftAuto
                else:
                    from peft import AutoPeftModelForCausalLM as PeftAuto
                model = PeftAuto.from_pretrained(resolved, **weights)
                tok_src = resolved if (Path(resolved) / "tokenizer_config.json").exists() else base
            else:
                config = AutoConfig.from_pretrained(resolved)
                if config.is_encoder_decoder:
                    from transformers import AutoModelForSeq2SeqLM as Auto
                else:
                    from transformers import AutoModelForCausalLM as Auto
                model = Auto.from_pretrained(resolved, **weights)
                tok_src = resolved
            tokenizer = AutoTokenizer.from_pretrained(tok_src)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(f"cannot load model {spec!r}: {first}") from exc
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        if not config.is_encoder_decoder:
            tokenizer.padding_side = "left"
        model.to(where)
        model.eval()
        info |= {"dtype": dtype_name, "device": where}
        backend = cls(model=model, tokenizer=tokenizer, name=str(spec),
                      is_encoder_decoder=bool(config.is_encoder_decoder),
                      max_source_length=max_source_length, batch_size=batch_size, info=info,
                      dtype=dtype_name, dp=dp)
        if dtype_name == "float16":
            backend.check_finite_in_float16(str(spec))
        return backend

    def check_finite_in_float16(self, spec: str) -> None:
        """T5's activations overflow float16 (its largest value is 65504): refuse a model
        whose log-probabilities on a short probe are not finite, instead of answering junk."""
        import math

        probe = self.score(["Q: Is water wet?\nA:"], ["The answer is yes because it is."])[0]
        if not math.isfinite(probe):
            raise ModelLoadError(f"{spec}: float16 overflows in this model (non-finite "
                                 "log-probabilities on a probe); use --dtype bfloat16 or "
                                 "float32")

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    @property
    def chain_order(self) -> str:
        """The chain order the model was trained on (its config's ``data.chain_order``);
        'answer_first' for a model without one (a base model, the paper's form)."""
        return chain_order_of(self.info)

    def _token_rows(self, prompts: list[str]) -> list[list[int]]:
        """Each prompt's token ids as the model sees them: cut by the rule training uses
        (feedback_data.text.source_tokens.source_ids)."""
        return [list(r) for r in source_ids(self.tokenizer, prompts, self.max_source_length,
                                            causal=not self.is_encoder_decoder)]

    def _pad(self, rows: list[list[int]]) -> dict[str, Any]:
        """Padded ids and mask on the device: right-padded for an encoder, left-padded for a
        causal model (every row's continuation starts at the same column)."""
        import torch

        width = max(1, max(len(r) for r in rows))
        ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(rows):
            if r:
                cols = slice(0, len(r)) if self.is_encoder_decoder else slice(width - len(r),
                                                                             width)
                ids[i, cols] = torch.tensor(r)
                mask[i, cols] = 1
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}

    def _encode(self, prompts: list[str]) -> Any:
        return self._pad(self._token_rows(prompts))

    def _prompt_ids(self, prompt: str) -> list[int]:
        """A causal prompt as training encodes it (training.data.collate.causal_prompt_ids)."""
        return source_ids(self.tokenizer, [prompt], self.max_source_length, causal=True)[0]

    def generate(self, prompts: list[str], *, do_sample: bool = False, temperature: float = 1.0,
                 num_return_sequences: int = 1, max_new_tokens: int = 64,
                 seed: int | None = None, batch_size: int | None = None,
                 desc: str | None = None) -> list[list[str]]:
        """For each prompt, ``num_return_sequences`` completions (prompt not included).

        Length-aware: prompts are sorted by token length (within :attr:`sort_window`),
        batched, and the results put back in the caller's order. Sampling is seeded per
        (seed, prompt, sample) (:mod:`inference.sampling`): a prompt's samples do not depend
        on its batch or on the process that ran it. Under a data-parallel launch each process
        runs its share of the batches (:mod:`inference.sharding`). An encoder-decoder decodes
        with :func:`inference.decoding.seq2seq_decode` (finished sequences leave the batch); a
        causal model with ``generate``. ``desc`` shows a progress bar over the batches.
        """
        import torch

        if not prompts:
            return []
        n = num_return_sequences
        size = max(1, (batch_size or self.batch_size) // (n if n > 1 else 1))
        if do_sample and seed is None:
            seed = int(torch.randint(0, 2**62, ()).item())
        rows = self._token_rows(prompts)
        lengths = [len(r) for r in rows] if self.length_aware else [0] * len(rows)
        batches = plan_batches(lengths, size, self.sort_window)

        def run(idx: list[int]) -> list[list[str]]:
            keys = row_keys(seed, [prompts[i] for i in idx], n) if do_sample else None
            texts = self._generate_batch([rows[i] for i in idx], n, max_new_tokens,
                                         temperature, keys)
            return [[cut_at_stop(t) for t in texts[j * n:(j + 1) * n]] for j in range(len(idx))]

        return run_batches(self.dp, batches, run, len(prompts), f"generate ({desc or 'text'})",
                           progress=self._progress(desc))

    def _generate_batch(self, rows: list[list[int]], n: int, max_new_tokens: int,
                        temperature: float, keys: list[int] | None) -> list[str]:
        """Completions of one batch, prompt-major (n per prompt); ``keys``: sample."""
        import torch

        enc = self._pad(rows)
        if self.is_encoder_decoder:
            seqs = seq2seq_decode(self.model, enc, max_new_tokens=max_new_tokens,
                                  do_sample=keys is not None, temperature=temperature,
                                  num_return_sequences=n, keys=keys)
        else:
            # Rows repeated here, as generate would: it refuses n > 1 when decoding greedily,
            # which it does while KeyedSampler picks each sampled token.
            enc = {k: v.repeat_interleave(n, dim=0) for k, v in enc.items()}
            kwargs: dict[str, Any] = dict(max_new_tokens=max_new_tokens, do_sample=False,
                                          num_beams=1, pad_token_id=self.tokenizer.pad_token_id)
            if self.tokenizer.eos_token_id is not None:
                kwargs["eos_token_id"] = self.tokenizer.eos_token_id  # training ends targets so
            if keys is not None:
                width = enc["input_ids"].shape[1]
                kwargs["logits_processor"] = [KeyedSampler(keys, temperature, max_new_tokens,
                                                           width, self.device)]
            with torch.inference_mode():
                out = self.model.generate(**enc, **kwargs)
            seqs = out[:, enc["input_ids"].shape[1]:]
        return self.tokenizer.batch_decode(seqs, skip_special_tokens=True)

    def _progress(self, desc: str | None):
        """A progress bar over this process's batches (the main process's only)."""
        from tqdm.auto import tqdm

        def bar(items: list[int]):
            return tqdm(items, desc=desc, leave=False,
                        disable=desc is None or len(items) < 2 or not self.dp.is_main)
        return bar

    def score(self, prompts: list[str], targets: list[str],
              batch_size: int | None = None) -> list[float]:
        """Sum of the log-probabilities of each target given its prompt (teacher forced).

        A seq2seq target ends with EOS, so the score is that of the complete answer. Batches
        are consecutive and, under a data-parallel launch, shared out like generate's.
        """
        import torch

        if len(prompts) != len(targets):
            raise ValueError(f"{len(prompts)} prompts but {len(targets)} targets")
        size = batch_size or self.batch_size

        def run(idx: list[int]) -> list[float]:
            p, t = [prompts[i] for i in idx], [targets[i] for i in idx]
            with torch.inference_mode():
                return (self._score_seq2seq(p, t) if self.is_encoder_decoder
                        else self._score_causal(p, t))

        return run_batches(self.dp, _consecutive(len(prompts), size), run, len(prompts),
                           "score")

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

        def run(idx: list[int]) -> list[list[float]]:
            enc = self._encode([prompts[i] for i in idx])
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
            return [flat[i * k:(i + 1) * k] for i in range(b)]

        return run_batches(self.dp, _consecutive(len(prompts), size), run, len(prompts),
                           "score_choices")

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


def _consecutive(n: int, size: int) -> list[list[int]]:
    return [list(range(b, min(n, b + size))) for b in range(0, n, size)]


def cut_at_stop(text: str) -> str:
    """Drop what a model writes after the answer (a causal model starts the next shot)."""
    for marker in STOP_MARKERS:
        pos = text.find(marker)
        if pos != -1:
            text = text[:pos]
    return text.strip()
