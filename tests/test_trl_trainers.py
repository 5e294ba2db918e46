"""Real client: each exported TRL format trains its TRL trainer for two steps.

A tiny random Llama (the project's tiny tokenizer) on CPU; each trainer takes seconds. At
initialisation the policy equals the reference, so DPO's first loss is ln 2 and KTO's is 0.5:
a wrongly read column (e.g. chosen and rejected swapped or empty) would not change that, but
a dataset TRL cannot read fails here, and the parameters must move.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

try:  # part of the dev extra that `make test` installs: missing is a failure, not a skip
    import trl
except ImportError:
    pytest.fail("trl is not installed: pip install -e '.[dev]' (or '.[trl]')", pytrace=False)

from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from feedback_data.exports.formats import build  # noqa: E402
from feedback_data.exports.trl import read_rows, write_rows  # noqa: E402
from feedback_data.sources.paper_import import load_paper_feedback  # noqa: E402


@pytest.fixture(scope="module")
def records():
    return load_paper_feedback("strategyqa", "train")[:12]


def run_trainer(tiny_llama: Path, tmp_path: Path, rows: list[dict], trainer_cls, config_cls,
                **extra):
    tok = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = config_cls(output_dir=str(tmp_path / "out"), max_steps=2,
                      per_device_train_batch_size=4, report_to="none", save_strategy="no",
                      use_cpu=True, logging_steps=1, seed=0, **extra)
    trainer = trainer_cls(model=model, args=args, train_dataset=Dataset.from_list(rows),
                          processing_class=tok)
    result = trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    changed = [n for n, p in model.named_parameters() if not torch.equal(before[n], p)]
    return result, losses, changed, len(before)


def exported(fmt: str, records, tmp_path: Path) -> list[dict]:
    """Build, write as a dataset folder and read back: TRL gets what a user would load."""
    rows, report = build(fmt, records)
    assert report.rows == len(rows) > 0
    write_rows(rows, tmp_path / fmt)
    return read_rows(tmp_path / fmt)


def test_sft_trainer(tiny_llama: Path, tmp_path: Path, records):
    rows = exported("sft-critique", records, tmp_path)
    result, losses, changed, n = run_trainer(tiny_llama, tmp_path, rows, trl.SFTTrainer,
                                             trl.SFTConfig)
    assert result.global_step == 2 and len(losses) == 2
    # a random model's loss on completion tokens starts near ln(vocab size)
    assert abs(losses[0] - math.log(4096)) < 1.0
    assert len(changed) == n


def test_dpo_trainer(tiny_llama: Path, tmp_path: Path, records):
    rows = exported("dpo", records, tmp_path)
    result, losses, changed, n = run_trainer(tiny_llama, tmp_path, rows, trl.DPOTrainer,
                                             trl.DPOConfig)
    assert result.global_step == 2
    assert losses[0] == pytest.approx(math.log(2), abs=1e-3)
    assert len(changed) == n


def test_kto_trainer(tiny_llama: Path, tmp_path: Path, records):
    rows = exported("kto", records, tmp_path)
    assert {r["label"] for r in rows} == {True, False}
    result, losses, changed, n = run_trainer(tiny_llama, tmp_path, rows, trl.KTOTrainer,
                                             trl.KTOConfig)
    assert result.global_step == 2
    assert losses[0] == pytest.approx(0.5, abs=1e-3)
    assert len(changed) == n
