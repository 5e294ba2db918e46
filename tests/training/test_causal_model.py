"""A causal model in the recipes' building blocks: loading by config, LoRA, overfitting."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training.data.collate import encode_causal_pairs, make_collator
from training.data.examples import MULTITASK_TERMS, REFINE_TERM, Pair
from training.model.modeling import LORA_TARGETS, load_model, lora_targets, model_class
from training.run.config import ModelConfig


def test_model_class_by_config(tiny_llama: Path, tiny_model: Path):
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    assert model_class(str(tiny_llama)) is AutoModelForCausalLM
    assert model_class(str(tiny_model)) is AutoModelForSeq2SeqLM
    assert type(load_model(ModelConfig(name_or_path=str(tiny_llama)))).__name__ \
        == "LlamaForCausalLM"


def test_lora_targets_per_family():
    assert lora_targets("llama", ["q", "v"]) == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert lora_targets("qwen2", ["q", "v"]) == LORA_TARGETS["mistral"]
    assert lora_targets("gpt2", ["q", "v"]) == ["c_attn"]
    assert lora_targets("gptj", ["q", "v"]) == ["q_proj", "v_proj"]
    assert lora_targets("t5", ["q", "v"]) == ["q", "v"]
    assert lora_targets("t5", ["q", "k", "v", "o", "wi_0", "wi_1", "wo"])[-1] == "wo"
    assert lora_targets("gpt2", ["q", "k", "v", "o", "wi_0", "wi_1", "wo"]) == ["c_attn"]
    assert lora_targets("llama", ["v_proj"]) == ["v_proj"]  # an explicit choice is kept
    assert lora_targets("unknown-family", ["q", "v"]) == ["q", "v"]


def pairs() -> list[Pair]:
    return [Pair("Q: Do cats fly?\nA:", "The answer is no because cats have no wings.", "answer"),
            Pair("Q: Is ice cold?\nA:", "The answer is yes because ice is frozen water.",
                 "answer"),
            Pair("Which errors?\nAnswer: The answer is yes", "factual error", "error_types")]


def train_steps(model, batch, steps: int, lr: float) -> list[float]:
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    model.train()
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


def test_lora_trains_only_adapters(tiny_llama: Path):
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    model = load_model(ModelConfig(name_or_path=str(tiny_llama), lora_r=4))
    wrapped = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if hasattr(m, "lora_A")}
    assert wrapped == {"q_proj", "k_proj", "v_proj", "o_proj"}
    assert type(model).__name__ == "PeftModelForCausalLM"
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    tok = AutoTokenizer.from_pretrained(tiny_llama)
    encode, collate = make_collator(model.config, tok, MULTITASK_TERMS)
    batch = collate(encode(pairs(), tok, 64, 32))
    batch.pop("term")
    train_steps(model, batch, 2, 1e-2)
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}
    assert changed and all("lora_" in n for n in changed)
    assert {n for n in before if "lora_B" in n} <= changed  # B starts at 0 and must move


def test_overfit_a_batch(tiny_llama: Path):
    """Full fine-tuning drives the target loss near zero and greedy decoding then writes the
    targets exactly (after the prompt, up to EOS)."""
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(tiny_llama)
    model = load_model(ModelConfig(name_or_path=str(tiny_llama)))
    rows = encode_causal_pairs(pairs(), tok, 64, 32)
    _, collate = make_collator(model.config, tok, MULTITASK_TERMS)
    batch = collate(rows)
    batch.pop("term")
    losses = train_steps(model, batch, 80, 3e-3)
    assert losses[0] > 6.0 and losses[-1] < 0.05
    model.eval()
    for pair, row in zip(pairs(), rows, strict=True):
        n_prompt = row.labels.count(-100)
        ids = torch.tensor([row.input_ids[:n_prompt]])
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=32, do_sample=False,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        assert tok.decode(out[0, n_prompt:], skip_special_tokens=True).strip() == pair.target


@pytest.mark.parametrize("objective", ["multitask", "refine"])
def test_loss_only_on_targets_through_make_collator(tiny_llama: Path, objective: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    model = load_model(ModelConfig(name_or_path=str(tiny_llama)))
    terms = MULTITASK_TERMS if objective == "multitask" else (REFINE_TERM,)
    encode, collate = make_collator(model.config, tok, terms, extra_terms=["answer",
                                                                          "error_types"])
    batch = collate(encode(pairs(), tok, 64, 32))
    for row, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"],
                                 strict=True):
        target = labels != -100
        assert (row[target] == labels[target]).all()
        assert not (target & (mask == 0)).any()
        assert labels[target][-1] == tok.eos_token_id


def test_merge_a_causal_adapter(tiny_llama: Path, tmp_path: Path):
    """`rhf train merge` on a causal adapter: the merged plain model computes what the
    adapter-wrapped one does."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.model.modeling import merge_adapter

    torch.manual_seed(0)
    model = load_model(ModelConfig(name_or_path=str(tiny_llama), lora_r=4))
    tok = AutoTokenizer.from_pretrained(tiny_llama)
    encode, collate = make_collator(model.config, tok, MULTITASK_TERMS)
    batch = collate(encode(pairs(), tok, 64, 32))
    batch.pop("term")
    train_steps(model, batch, 3, 1e-2)
    model.eval()
    with torch.no_grad():
        expected = model(**batch).logits
    model.save_pretrained(tmp_path / "adapter")
    merged = merge_adapter(tmp_path / "adapter", tmp_path / "merged", base=str(tiny_llama))
    plain = AutoModelForCausalLM.from_pretrained(merged)
    assert type(plain).__name__ == "LlamaForCausalLM"
    with torch.no_grad():
        assert torch.allclose(plain(**batch).logits, expected, atol=1e-5)
