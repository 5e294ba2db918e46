"""Both recipes on a tiny random Llama: the same configs and CLI as for T5.

The shared loop builds its collator with ``training.data.collate.make_collator`` and the held-out
loss aligns causal logits with ``loss_aligned``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from training.recipe.objectives import train


def causal_cfg(make_cfg, tiny_llama: Path, objective: str, out: Path, **extra):
    return make_cfg(objective, out=out, **{"model.name_or_path": str(tiny_llama),
                                           "data.eval_fraction": 0.2, "data.eval_max": 8,
                                           **extra})


def all_weights(folder: Path) -> dict:
    out = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update(load_file(f))
    return out


@pytest.mark.parametrize("objective", ["multitask", "refine"])
def test_recipe_trains_a_causal_model(make_cfg, tiny_llama, tmp_path, objective):
    final = train(causal_cfg(make_cfg, tiny_llama, objective, tmp_path / "run",
                             **{"train.max_steps": 4, "train.lr": 3e-3}))
    metrics = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text()
               .splitlines()]
    losses = [m["train/loss"] for m in metrics if "train/loss" in m]
    assert len(losses) == 4 and losses[-1] < losses[0]
    evals = [m for m in metrics if "eval/loss" in m]
    # four steps from random weights: the held-out target loss is still near ln(4096) = 8.3
    assert evals and 6.0 < evals[0]["eval/loss"] < 10.0
    from transformers import AutoModelForCausalLM

    assert type(AutoModelForCausalLM.from_pretrained(final)).__name__ == "LlamaForCausalLM"


def test_causal_lora_resume_is_bitwise(make_cfg, tiny_llama, tmp_path):
    settings = {"data.max_records": 16, "train.max_steps": 6, "train.save_every": 3,
                "train.keep_checkpoints": 5, "model.lora_r": 4, "data.eval_fraction": 0.0}
    run = tmp_path / "run"
    final = train(causal_cfg(make_cfg, tiny_llama, "multitask", run, **settings))
    uninterrupted = all_weights(final)
    assert uninterrupted and all("lora_" in k for k in uninterrupted)
    shutil.rmtree(run / "checkpoints" / "step-6")
    shutil.rmtree(final)
    resumed = all_weights(train(causal_cfg(make_cfg, tiny_llama, "multitask", run,
                                           **settings, **{"train.resume": True})))
    assert resumed.keys() == uninterrupted.keys()
    for k in resumed:
        assert torch.equal(resumed[k], uninterrupted[k]), k
