"""Benchmark the training recipe: speed against transformers' Seq2SeqTrainer, and padding.

    .venv/bin/python scripts/bench_train.py            # tiny T5 on CPU (a minute or two)
    .venv/bin/python scripts/bench_train.py --gpu      # + flan-t5-large-sized model, bf16

On the tiny model on CPU, both trainers run the same multitask pairs of the paper's feedback
from the same weights with the same batch size and number of steps, in one process; the
ratio is ours over theirs (examples per second of one epoch's training loop). Padding efficiency is
real tokens over tokens processed (encoder and decoder together) over one epoch of batches:
ours (length-grouped) and Seq2SeqTrainer's (random batches, DataCollatorForSeq2Seq).
With --gpu: tokens per second and model FLOPs utilisation of a flan-t5-large-sized model
(random weights from its config) against the measured bf16 matrix-product rate.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from training.batching import grouped_batches, padding_efficiency, random_batches
from training.collate import encode_pairs
from training.config import load_config
from training.data import build_data
from training.examples import multitask_pairs
from training.model_sizes import FLAN_T5_LARGE


def _ours(model_dir: Path, out: Path, records: int, batch: int, device_cfg: dict) -> dict:
    """One epoch of our recipe's training loop (one metrics window = all steps)."""
    from training.multitask import train

    cfg = load_config(overrides={
        "model.name_or_path": str(model_dir), "train.output_dir": str(out),
        "train.epochs": 1.0, "data.max_records": records, "train.batch_size": batch,
        "train.log_every": 10**9,
        "train.save_every": 0, "train.eval_every": 0, "data.eval_fraction": 0.0,
        "train.tensorboard": False, "train.progress_bar": False, **device_cfg})
    train(cfg)
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return next(x for x in lines if "train/examples_per_s" in x)


def _hf(model_dir: Path, encoded, tokenizer, out: Path, batch: int) -> float:
    """Examples per second of one epoch of Seq2SeqTrainer's training loop, same pairs."""
    from datasets import Dataset
    from transformers import (
        AutoModelForSeq2SeqLM,
        DataCollatorForSeq2Seq,
        Seq2SeqTrainer,
        Seq2SeqTrainingArguments,
        TrainerCallback,
    )

    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir, dtype=torch.float32)
    ds = Dataset.from_dict({"input_ids": [e.input_ids for e in encoded],
                            "labels": [e.labels for e in encoded]})
    times: dict[str, float] = {}

    class Clock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            times["start"] = time.perf_counter()

        def on_train_end(self, *a, **k):
            times["end"] = time.perf_counter()

    args = Seq2SeqTrainingArguments(
        output_dir=str(out), per_device_train_batch_size=batch, num_train_epochs=1,
        learning_rate=1e-3, warmup_steps=1, lr_scheduler_type="linear", max_grad_norm=1.0,
        logging_steps=10**6, save_strategy="no", eval_strategy="no", report_to=[],
        dataloader_num_workers=0, disable_tqdm=True, use_cpu=not torch.cuda.is_available(),
        seed=42)
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=ds,
                             data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
                             callbacks=[Clock()])
    trainer.train()
    return len(encoded) / (times["end"] - times["start"])


def cpu_benchmark(records: int, batch: int) -> dict:
    from transformers import AutoTokenizer

    from training.tiny_model import init_tiny

    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    model_dir = init_tiny(tmp / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    cfg = load_config(overrides={"data.eval_fraction": 0.0, "data.max_records": records})
    data = build_data(cfg.data, lambda items: multitask_pairs(items, None, 42),
                      lambda items: [], 42, log=lambda _m: None)
    encoded = encode_pairs(data.train, tokenizer, cfg.data.max_source_len,
                           cfg.data.max_target_len)
    ours_eff = padding_efficiency(encoded, grouped_batches(encoded, batch, seed=42))
    rand_eff = padding_efficiency(encoded, random_batches(len(encoded), batch, seed=42))
    by_total = sorted(range(len(encoded)),
                      key=lambda i: len(encoded[i].input_ids) + len(encoded[i].labels))
    sort_eff = padding_efficiency(encoded, [by_total[j:j + batch]
                                            for j in range(0, len(by_total), batch)])
    ours = _ours(model_dir, tmp / "ours", records, batch, {})
    theirs = _hf(model_dir, encoded, tokenizer, tmp / "hf", batch)
    return {"records": records, "pairs": len(encoded), "batch": batch,
            "ours_examples_per_s": round(ours["train/examples_per_s"], 1),
            "ours_tokens_per_s": round(ours["train/tokens_per_s"], 1),
            "seq2seqtrainer_examples_per_s": round(theirs, 1),
            "speed_ratio_ours_over_hf": round(ours["train/examples_per_s"] / theirs, 2),
            "padding_efficiency_ours": round(ours_eff, 3),
            "padding_efficiency_seq2seqtrainer": round(rand_eff, 3),
            "padding_efficiency_sorted_by_total_length": round(sort_eff, 3)}


def matmul_tflops(n: int = 8192, reps: int = 20) -> float:
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e12


def gpu_benchmark(records: int, batch: int) -> dict:
    """flan-t5-large-sized T5 (random weights), bf16 autocast, our recipe on one GPU."""
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    from training.tiny_model import init_tiny

    tmp = Path(tempfile.mkdtemp(prefix="bench_train_gpu_"))
    tok_dir = init_tiny(tmp / "tiny")  # its tokenizer's ids fit in flan-t5's vocabulary
    model = T5ForConditionalGeneration(T5Config(**FLAN_T5_LARGE))
    model.save_pretrained(tmp / "large")
    AutoTokenizer.from_pretrained(tok_dir).save_pretrained(tmp / "large")
    enc_params = sum(p.numel() for p in model.encoder.parameters())
    dec_params = sum(p.numel() for p in model.decoder.parameters()) + model.lm_head.weight.numel()
    del model
    peak = matmul_tflops()
    stats = _ours(tmp / "large", tmp / "run", records, batch,
                  {"train.mixed_precision": "bf16", "data.max_source_len": 512,
                   "data.max_target_len": 256})
    lines = [json.loads(x) for x in (tmp / "run" / "metrics.jsonl").read_text().splitlines()]
    tokens_per_s = stats["train/tokens_per_s"]
    # Real encoder and decoder tokens in the proportion of the pairs; 6 FLOPs per parameter
    # per token (forward + backward), attention ignored.
    share_enc = 0.5
    flops = 6 * tokens_per_s * (share_enc * enc_params + (1 - share_enc) * dec_params)
    return {"device": torch.cuda.get_device_name(), "bf16_matmul_tflops": round(peak, 1),
            "tokens_per_s": round(tokens_per_s), "examples_per_s":
            round(stats["train/examples_per_s"], 1), "mfu": round(flops / 1e12 / peak, 3),
            "records": records, "batch": batch, "log": lines[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=800,
                        help="feedback records (x3 multitask pairs); both run one epoch")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--gpu", action="store_true", help="also the flan-t5-large run")
    parser.add_argument("--gpu-only", action="store_true", help="only the flan-t5-large run")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = parser.parse_args()
    results: dict = {}
    if not args.gpu_only:
        result = cpu_benchmark(args.records, args.batch)
        results["cpu"] = result
        for k, v in result.items():
            print(f"{k:45s} {v}")
        print(f"ratio (ours / Seq2SeqTrainer, examples per second): "
              f"{result['speed_ratio_ours_over_hf']}")
        print(f"padding efficiency: ours {result['padding_efficiency_ours']}, "
              f"Seq2SeqTrainer {result['padding_efficiency_seq2seqtrainer']}")
    if args.gpu or args.gpu_only:
        if not torch.cuda.is_available():
            raise SystemExit("--gpu: no CUDA device")
        results["gpu"] = gpu_benchmark(args.records, 8)
        print(json.dumps(results["gpu"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
