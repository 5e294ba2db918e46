"""LoRA adapters through peft, and the explicit merge-and-save step."""

from __future__ import annotations

import json
import shutil
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


def merge_adapter(adapter_dir: str | Path, out: str | Path, base: str | None = None) -> Path:
    """Load base model + adapter, merge the adapter into the weights, save a plain model.

    ``base`` overrides the base model recorded in adapter_config.json (e.g. when the run
    folder moved to another machine).
    """
    import torch
    from peft import PeftModel
    from transformers import AutoTokenizer

    from training.modeling import model_class

    adapter_dir, out = Path(adapter_dir), Path(out)
    if not is_adapter(adapter_dir):
        raise ValueError(f"{adapter_dir} holds no LoRA adapter ({ADAPTER_CONFIG} not found)")
    recorded = json.loads((adapter_dir / ADAPTER_CONFIG).read_text())["base_model_name_or_path"]
    base = base or recorded
    model = model_class(base).from_pretrained(base, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tok_src = adapter_dir if (adapter_dir / "tokenizer_config.json").exists() else base
    AutoTokenizer.from_pretrained(tok_src).save_pretrained(out)
    for name in ("config.yaml", "run.json"):
        if (adapter_dir / name).exists():
            shutil.copy2(adapter_dir / name, out / name)
    (out / "merged_from.json").write_text(json.dumps(
        {"adapter": str(adapter_dir.resolve()), "base": base}, indent=2) + "\n")
    return out
