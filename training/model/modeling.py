"""Model, tokenizer, optimizer and schedule: the pieces every recipe sets up the same way;
LoRA adapters (through peft) and the explicit step that merges one into full weights."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from feedback_data.files.io import atomic_folder, check_replaceable
from training.run.config import ConfigError, ModelConfig, TrainConfig


def check_model_path(name_or_path: str) -> None:
    """A name that looks like a path must exist (otherwise it is taken as a hub id)."""
    if name_or_path.startswith(("/", ".", "~")) and not Path(name_or_path).expanduser().exists():
        raise ConfigError(f"model folder {name_or_path} not found")


def _from_pretrained(auto_class: Any, name_or_path: str, what: str) -> Any:
    """``auto_class.from_pretrained`` with a missing folder or unreadable files as one line."""
    check_model_path(name_or_path)
    try:
        return auto_class.from_pretrained(name_or_path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the {what} of '{name_or_path}': "
                          f"{str(exc).splitlines()[0]}") from None


def load_tokenizer(name_or_path: str) -> Any:
    from transformers import AutoTokenizer

    return _from_pretrained(AutoTokenizer, name_or_path, "tokenizer")


def load_model(cfg: ModelConfig, dtype: torch.dtype = torch.float32) -> Any:
    """The model in ``dtype`` (float32 unless bf16 weights were asked for; autocast handles
    mixed precision), seq2seq or causal as its config says (:func:`model_class`), with SDPA
    attention, LoRA-wrapped if lora_r > 0."""
    check_model_path(cfg.name_or_path)
    try:
        # T5's relative position bias goes in as SDPA's additive mask (no flash kernel, but
        # the memory-efficient one on GPUs).
        model = model_class(cfg.name_or_path).from_pretrained(
            cfg.name_or_path, dtype=dtype, attn_implementation="sdpa")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load model '{cfg.name_or_path}': "
                          f"{str(exc).splitlines()[0]}") from None
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if cfg.lora_r > 0:
        from dataclasses import replace

        try:
            targets = lora_targets(model.config.model_type, cfg.lora_target_modules)
            model = apply_lora(model, replace(cfg, lora_target_modules=targets))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return model


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig,
                   device: torch.device | str = "cpu") -> torch.optim.Optimizer:
    """AdamW over the trainable parameters; no weight decay on biases and norm weights.

    Fused (one kernel for every tensor, and able to skip a step on the device) on CUDA;
    foreach (a few batched ops) elsewhere.
    """
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    fused = torch.device(device).type == "cuda"
    kwargs = dict(lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps,
                  fused=fused, foreach=not fused)
    groups = [g for g in groups if g["params"]]
    if cfg.weights_dtype == "bfloat16" and cfg.master_weights:
        return MasterWeightsAdamW(groups, **kwargs)
    return torch.optim.AdamW(groups, **kwargs)


def total_steps(cfg: TrainConfig, batches_per_epoch: int, num_processes: int = 1) -> int:
    """Optimizer steps of the run: max_steps, or epochs over the per-process batches."""
    if cfg.max_steps > 0:
        return cfg.max_steps
    per_process = math.ceil(batches_per_epoch / num_processes)
    return max(1, math.ceil(cfg.epochs * per_process / cfg.grad_accum))


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig,
                   steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warm-up, then linear decay / cosine decay / constant."""
    from transformers import get_scheduler

    warmup = cfg.warmup_steps if cfg.warmup_steps > 0 else int(cfg.warmup_ratio * steps)
    name = {"constant": "constant_with_warmup"}.get(cfg.scheduler, cfg.scheduler)
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=steps)


def trainable_parameters(model: torch.nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def check_backend(accelerator: Any, cfg: TrainConfig) -> None:
    """Refuse settings a distributed backend cannot honour, with one line saying why."""
    from accelerate.utils import DistributedType

    # accelerate shards only on an accelerator: a launch asking for FSDP or DeepSpeed on CPUs
    # falls back to plain data parallel without a word. A sharded run that is not sharded
    # would hide its memory need until it meets a GPU: refuse it here.
    for env, backend in (("ACCELERATE_USE_FSDP", DistributedType.FSDP),
                         ("ACCELERATE_USE_DEEPSPEED", DistributedType.DEEPSPEED)):
        if os.environ.get(env, "false").lower() == "true" \
                and accelerator.distributed_type != backend:
            raise ConfigError(f"the launch asks for {backend.value} but accelerate runs "
                              f"{accelerator.distributed_type.value} on "
                              f"{accelerator.device.type} ({backend.value} needs GPUs)")
    if accelerator.distributed_type == DistributedType.DEEPSPEED and cfg.grad_accum > 1:
        raise ConfigError("under DeepSpeed keep train.grad_accum=1 (DeepSpeed steps on every "
                          "backward); raise train.batch_size or the number of GPUs instead")
    if cfg.mixed_precision != "no" and accelerator.device.type == "cpu" \
            and cfg.mixed_precision == "fp16":
        raise ConfigError("fp16 needs a GPU; use train.mixed_precision=bf16 or no on CPU")


def load_model_config(name_or_path: str) -> Any:
    """The model's transformers config (says whether it is encoder-decoder), no weights."""
    from transformers import AutoConfig

    return _from_pretrained(AutoConfig, name_or_path, "config")


def model_class(name_or_path: str) -> Any:
    """AutoModelForSeq2SeqLM for an encoder-decoder config, else AutoModelForCausalLM."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    config = load_model_config(name_or_path)
    return AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM


# The attention projections LoRA wraps by default, per architecture family (config.model_type).
LORA_TARGETS: dict[str, list[str]] = {
    "t5": ["q", "v"], "mt5": ["q", "v"], "umt5": ["q", "v"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mixtral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "phi3": ["qkv_proj", "o_proj"],
    "gpt2": ["c_attn"],
    "gptj": ["q_proj", "v_proj"],
    "gpt_neox": ["query_key_value"],
    "opt": ["q_proj", "v_proj"],
    "bloom": ["query_key_value"],
    "falcon": ["query_key_value"],
}
T5_MODULES = frozenset({"q", "k", "v", "o", "wi", "wi_0", "wi_1", "wo"})
T5_FAMILIES = frozenset({"t5", "mt5", "umt5"})


def lora_targets(model_type: str, requested: list[str]) -> list[str]:
    """The modules LoRA wraps: ``requested``, except that T5 module names (the configs'
    ``[q, v]`` or ``[q, k, v, o, wi_0, wi_1, wo]``) on another known family mean that
    family's attention projections, so one config serves T5 and Llama alike.

    >>> lora_targets("llama", ["q", "v"])
    ['q_proj', 'k_proj', 'v_proj', 'o_proj']
    >>> lora_targets("llama", ["q_proj"]), lora_targets("t5", ["q", "v"])
    (['q_proj'], ['q', 'v'])
    """
    if (model_type not in T5_FAMILIES and model_type in LORA_TARGETS and requested
            and set(requested) <= T5_MODULES):
        return list(LORA_TARGETS[model_type])
    return list(requested)


class MasterWeightsAdamW(torch.optim.AdamW):
    """AdamW on fp32 copies of bf16 weights: the model computes in bf16, the update is
    applied in fp32 (where small steps are not rounded away) and rounded into the weights.

    Memory per trainable parameter: bf16 weight and gradient (4 bytes) + fp32 copy and two
    AdamW moments (12 bytes), as much as fp32 training, without autocast's casts. The fp32
    copies travel in ``state_dict()['master']`` so a resumed run continues bitwise.
    """

    def __init__(self, groups: list[dict[str, Any]], **kwargs: Any) -> None:
        self.model_params: list[torch.nn.Parameter] = []
        master_groups = []
        for g in groups:
            masters = []
            for p in g["params"]:
                m = torch.nn.Parameter(p.detach().float().clone())
                masters.append(m)
                self.model_params.append(p)
            master_groups.append({**g, "params": masters})
        super().__init__(master_groups, **kwargs)
        self.masters = [m for g in self.param_groups for m in g["params"]]

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for m, p in zip(self.masters, self.model_params, strict=True):
            m.grad = None if p.grad is None else p.grad.float()
        loss = super().step(closure)
        torch._foreach_copy_(self.model_params, self.masters)  # round to bf16
        for m in self.masters:
            m.grad = None
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.model_params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["master"] = [m.detach().clone() for m in self.masters]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        masters = state_dict.pop("master", None)
        super().load_state_dict(state_dict)
        with torch.no_grad():  # without saved copies, start them from the loaded weights
            for m, saved in zip(self.masters, masters or self.model_params, strict=True):
                m.copy_(saved)


# --- LoRA adapters, and merging one into its base model's weights ---------------------------

ADAPTER_CONFIG = "adapter_config.json"


def apply_lora(model: Any, cfg: ModelConfig) -> Any:
    """Wrap ``model`` with LoRA adapters on ``cfg.lora_target_modules``; the base is frozen."""
    from peft import LoraConfig, TaskType, get_peft_model

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [m for m in cfg.lora_target_modules if m not in names]
    if missing:
        raise ValueError(f"model.lora_target_modules {missing} match no module of the model "
                         f"(T5 has q, k, v, o, wi_0, wi_1, wo; Llama q_proj, k_proj, v_proj, "
                         f"o_proj; GPT-2 c_attn)")
    task = (TaskType.SEQ_2_SEQ_LM if getattr(model.config, "is_encoder_decoder", False)
            else TaskType.CAUSAL_LM)
    lora = LoraConfig(task_type=task, r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                      lora_dropout=cfg.lora_dropout, target_modules=list(cfg.lora_target_modules))
    return get_peft_model(model, lora)


def is_adapter(path: str | Path) -> bool:
    return (Path(path) / ADAPTER_CONFIG).is_file()


def merged_here(folder: Path) -> bool:
    """A folder :func:`merge_adapter` wrote (it holds merged_from.json)."""
    return (folder / "merged_from.json").is_file()


def merge_adapter(adapter_dir: str | Path, out: str | Path, base: str | None = None) -> Path:
    """Load base model + adapter, merge the adapter into the weights, save a plain model.

    ``base`` overrides the base model recorded in adapter_config.json (e.g. when the run
    folder moved to another machine).
    """
    import torch
    from peft import PeftModel
    from transformers import AutoTokenizer

    adapter_dir, out = Path(adapter_dir), Path(out)
    if not is_adapter(adapter_dir):
        raise ValueError(f"{adapter_dir} holds no LoRA adapter ({ADAPTER_CONFIG} not found)")
    check_replaceable(out, merged_here)  # before the merge's work: never over a user's folder
    recorded = json.loads((adapter_dir / ADAPTER_CONFIG).read_text())["base_model_name_or_path"]
    base = base or recorded
    model = model_class(base).from_pretrained(base, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    tok_src = adapter_dir if (adapter_dir / "tokenizer_config.json").exists() else base
    # the merged model is written whole or not at all, and replaces only an earlier merge
    with atomic_folder(out, ours=merged_here) as staged:
        staged.mkdir()
        model.save_pretrained(staged, safe_serialization=True)
        AutoTokenizer.from_pretrained(tok_src).save_pretrained(staged)
        for name in ("config.yaml", "run.json"):
            if (adapter_dir / name).exists():
                shutil.copy2(adapter_dir / name, staged / name)
        (staged / "merged_from.json").write_text(json.dumps(
            {"adapter": str(adapter_dir.resolve()), "base": base}, indent=2) + "\n")
    return out
