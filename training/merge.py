"""The explicit merge-and-save step: a LoRA adapter folded into its base model's weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from training.lora import ADAPTER_CONFIG, is_adapter
from training.modeling import model_class


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
