"""LoRA adapters through peft (merging them into full weights is training.merge's step)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.config import ModelConfig

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
