"""The recipes on the tiny T5 on CPU: they learn, they change the right weights, they save."""

from __future__ import annotations

import json

import pytest
import torch

from tests.training.conftest import weights
from training.recipe.objectives import train


def _losses(run_dir, key="train/loss"):
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [x[key] for x in lines if key in x]


OBJECTIVES = pytest.mark.parametrize("objective", ["multitask", "refine"])


@OBJECTIVES
def test_recipe_overfits_a_small_batch(make_cfg, tmp_path, objective):
    cfg = make_cfg(objective, **{"data.max_records": 2, "train.max_steps": 60,
                                   "train.lr": 3e-3, "train.batch_size": 6,
                                   "data.max_source_len": 48, "data.max_target_len": 32})
    train(cfg)
    losses = _losses(tmp_path / "run")
    assert len(losses) == 60
    assert losses[-1] < 0.25 * losses[0], losses


@OBJECTIVES
def test_full_finetuning_changes_parameters_and_saves_a_loadable_model(make_cfg, tiny_model,
                                                                      tmp_path, objective):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    final = train(make_cfg(objective, **{"train.max_steps": 3, "data.eval_fraction": 0.3}))
    before, after = weights(tiny_model), weights(final)
    assert before.keys() == after.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) == len(before)  # every weight of a full fine-tune moves
    model = AutoModelForSeq2SeqLM.from_pretrained(final)
    AutoTokenizer.from_pretrained(final)
    assert model.config.d_model == 128
    for name in ("config.yaml", "run.json", "model.safetensors", "tokenizer.json"):
        assert (final / name).is_file()
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["objective"] == objective and run["seed"] == 42 and "git_commit" in run
    assert run["counts"]["records_left_out"] == 0 and run["counts"]["pairs_train"] > 0
    assert any("eval/loss" in json.loads(x)
               for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())


@OBJECTIVES
def test_lora_trains_only_the_adapters_and_merges(make_cfg, tiny_model, tmp_path, objective):
    from peft import PeftModel
    from transformers import AutoModelForSeq2SeqLM

    cfg = make_cfg(objective, **{"train.max_steps": 3, "model.lora_r": 4,
                                   "model.lora_target_modules": ["q", "v", "wo"]})
    final = train(cfg)
    assert (final / "adapter_config.json").is_file() and not (final / "model.safetensors").exists()
    adapter = weights(final)
    assert adapter and all("lora_" in k for k in adapter)
    assert any(not torch.all(v == 0) for k, v in adapter.items() if "lora_B" in k)

    base = AutoModelForSeq2SeqLM.from_pretrained(tiny_model)
    peft_model = PeftModel.from_pretrained(base, final)
    base_now = {k.replace("base_model.model.", "").replace(".base_layer", ""): v
                for k, v in peft_model.state_dict().items() if "lora_" not in k}
    original = weights(tiny_model)
    assert all(torch.equal(original[k], base_now[k]) for k in original)  # base stayed frozen

    from training.model.modeling import merge_adapter

    merged = merge_adapter(final, tmp_path / "merged")
    plain = AutoModelForSeq2SeqLM.from_pretrained(merged)
    ids = torch.tensor([[5, 6, 7, 1]])
    dec = torch.tensor([[0, 9, 10]])
    peft_model.eval()
    plain.eval()
    with torch.no_grad():
        a = peft_model(input_ids=ids, decoder_input_ids=dec).logits
        b = plain(input_ids=ids, decoder_input_ids=dec).logits
    assert torch.allclose(a, b, atol=1e-4)
    assert (merged / "config.yaml").is_file() and (merged / "tokenizer.json").is_file()


def test_pairs_file_only_run(make_cfg, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"source": f"say {i}", "target": f"number {i}",
                                         "term": "chain"}) + "\n" for i in range(20)))
    final = train(make_cfg("multitask", **{"data.tasks": [], "data.pairs_file": str(pairs),
                                           "train.max_steps": 2}))
    run = json.loads((final / "run.json").read_text())
    assert run["counts"]["pairs_train_by_term"] == {"chain": 20}


def test_a_run_folder_with_checkpoints_needs_resume(make_cfg):
    from training.run.checkpoint import CheckpointError

    train(make_cfg("refine", **{"train.max_steps": 2, "train.save_every": 2}))
    with pytest.raises(CheckpointError, match="pass --resume"):
        train(make_cfg("refine", **{"train.max_steps": 2}))
