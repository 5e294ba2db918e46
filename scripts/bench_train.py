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
import math
import tempfile
import time
from pathlib import Path

import torch

from training.data.batching import grouped_batches, padding_efficiency, random_batches
from training.data.build import build_data
from training.data.collate import encode_pairs
from training.data.multitask_pairs import multitask_pairs
from training.model.modeling import make_optimizer
from training.model.tiny_model import FLAN_T5_LARGE
from training.run.config import TrainConfig
from training.run.config_load import load_config


def _ours(model_dir: Path, out: Path, records: int, batch: int, device_cfg: dict,
          epochs: float = 1.0, log_every: int = 10**9) -> dict:
    """Our recipe's training loop; by default one epoch in one metrics window (all steps)."""
    from training.recipe.multitask import train

    cfg = load_config(overrides={
        "model.name_or_path": str(model_dir), "train.output_dir": str(out),
        "train.epochs": epochs, "data.max_records": records, "train.batch_size": batch,
        "train.log_every": log_every,
        "train.save_every": 0, "train.eval_every": 0, "data.eval_fraction": 0.0,
        "train.report_to": ["jsonl"], "train.progress_bar": False, **device_cfg})
    train(cfg)  # a non-finite loss stops it with NonFiniteError (the guard)
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

    from training.model.tiny_model import init_tiny

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


class Device:
    """The GPU run's device calls; ``smoke`` runs the same code on CPU with a small T5
    (a check of the script itself, not a measurement)."""

    def __init__(self, smoke: bool = False) -> None:
        self.smoke = smoke
        self.name = "cpu" if smoke else "cuda"

    def sync(self) -> None:
        if not self.smoke:
            torch.cuda.synchronize()

    def reset_peak(self) -> None:
        if not self.smoke:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.reset_accumulated_memory_stats()

    def alloc_retries(self) -> int:
        """cudaMalloc retries since the last reset: each frees the allocator's cache and
        synchronises the device (a step that keeps hitting the memory cap crawls)."""
        return 0 if self.smoke else int(torch.cuda.memory_stats().get("num_alloc_retries", 0))

    def peak_gib(self) -> float:
        return 0.0 if self.smoke else torch.cuda.max_memory_allocated() / 2**30

    def label(self) -> str:
        return "cpu (smoke test)" if self.smoke else torch.cuda.get_device_name()


DEV = Device()


def matmul_tflops(n: int = 8192, reps: int = 20) -> float:
    if DEV.smoke:
        n, reps = 256, 3
    a = torch.randn(n, n, device=DEV.name, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=DEV.name, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    DEV.sync()
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    DEV.sync()
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e12


def _reset_accelerate() -> None:
    from accelerate.state import AcceleratorState, PartialState

    AcceleratorState._reset_state(True)
    PartialState._reset_state()


def _probe_peak_gib(model_dir: Path, dtype: torch.dtype, autocast: bool, rows: int,
                    src: int, tgt: int) -> float:
    """Peak GiB of two AdamW steps on a (rows, src) -> (rows, tgt) batch; inf on OOM."""
    from transformers import AutoModelForSeq2SeqLM

    DEV.reset_peak()
    model = opt = None
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(model_dir, dtype=dtype).to(DEV.name)
        # Our optimizer as the recipe builds it (fp32 master weights with bf16 weights).
        opt = make_optimizer(model, TrainConfig(lr=1e-6, weights_dtype=str(dtype)[6:]),
                             DEV.name)
        ids = torch.randint(2, 1000, (rows, src), device=DEV.name)
        labels = torch.randint(2, 1000, (rows, tgt), device=DEV.name)
        for _ in range(2):
            with torch.autocast(DEV.name, torch.bfloat16, enabled=autocast):
                loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        DEV.sync()
        return DEV.peak_gib()
    except torch.OutOfMemoryError:
        return float("inf")
    finally:
        del model, opt
        DEV.reset_peak()


def _largest(candidates: list[int], peak_gib, limit_gib: float) -> tuple[int, list]:
    """The first (largest) candidate whose probed peak stays under ``limit_gib``."""
    tried = []
    for c in candidates:
        peak = peak_gib(c)
        tried.append((c, round(peak, 1)))
        if peak <= limit_gib:
            return c, tried
    raise SystemExit(f"bench_train: nothing fits the memory budget (tried {tried})")


def steady_rate(lines: list[dict], skip_windows: int) -> tuple[float, float, int]:
    """Pairs/s and real tokens/s over the metrics windows after the first ``skip_windows``
    (which hold the warm-up: allocator growth, kernel selection), and the windows used."""
    windows = [x for x in lines if "train/window_s" in x][skip_windows:]
    if not windows:
        raise SystemExit("bench_train: no steady-state window (run more steps)")
    seconds = sum(x["train/window_s"] for x in windows)
    pairs = sum(x["train/examples_per_s"] * x["train/window_s"] for x in windows)
    tokens = sum(x["train/tokens_per_s"] * x["train/window_s"] for x in windows)
    return pairs / seconds, tokens / seconds, len(windows)


def _hf_gpu(model_dir: Path, encoded, tokenizer, out: Path, batch: int,
            lr: float, epochs: int, skip_steps: int) -> tuple[float, float]:
    """Examples/s of Seq2SeqTrainer (bf16 autocast, fp32 weights: its usual bf16 setting)
    after its first ``skip_steps`` steps, and its peak GiB; fails loudly on a non-finite
    logged loss."""
    from transformers import (
        AutoModelForSeq2SeqLM,
        DataCollatorForSeq2Seq,
        Seq2SeqTrainer,
        Seq2SeqTrainingArguments,
        TrainerCallback,
    )

    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir, dtype=torch.float32)
    # A list of feature dicts is a map-style dataset (no `datasets` needed on the GPU box).
    ds = [{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]
    times: dict[str, float] = {}

    class Clock(TrainerCallback):  # from the end of step skip_steps to the end of training
        def on_step_end(self, args, state, control, **k):
            if state.global_step == skip_steps:
                DEV.sync()
                times["start"] = time.perf_counter()

        def on_train_end(self, args, state, control, **k):
            DEV.sync()
            times["end"] = time.perf_counter()
            times["steps"] = state.global_step

    args = Seq2SeqTrainingArguments(
        output_dir=str(out), per_device_train_batch_size=batch, num_train_epochs=epochs,
        learning_rate=lr, warmup_steps=5, lr_scheduler_type="linear", max_grad_norm=1.0,
        logging_steps=5, save_strategy="no", eval_strategy="no", report_to=[],
        dataloader_num_workers=0 if DEV.smoke else 2, disable_tqdm=True, bf16=True,
        optim="adamw_torch" if DEV.smoke else "adamw_torch_fused", use_cpu=DEV.smoke, seed=42)
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=ds,
                             data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
                             callbacks=[Clock()])
    trainer.train()
    losses = [x[k] for x in trainer.state.log_history for k in ("loss", "train_loss") if k in x]
    if not losses or not all(math.isfinite(x) for x in losses):
        raise SystemExit(f"bench_train: Seq2SeqTrainer's loss went non-finite: {losses}")
    peak = DEV.peak_gib()
    del trainer, model
    if "start" not in times or times["steps"] <= skip_steps:
        raise SystemExit(f"bench_train: Seq2SeqTrainer ran {times.get('steps')} steps; "
                         f"more than {skip_steps} are needed")
    # Steps after the skipped ones: full batches, except an epoch's last (counted exactly).
    per_epoch = math.ceil(len(encoded) / batch)
    done = sum(min(batch, len(encoded) - (s % per_epoch) * batch)
               for s in range(skip_steps, times["steps"]))
    return done / (times["end"] - times["start"]), peak


def gpu_benchmark(records: int, budget_gib: float, lr: float, compile_model: bool,
                  epochs: int = 2, skip_steps: int = 5) -> dict:
    """flan-t5-large-sized T5 (random weights) over the paper's multitask pairs, ``epochs``
    epochs each: our recipe (bf16 weights, fp32 master weights in fused AdamW, token budget,
    no host sync in the step) against Seq2SeqTrainer (bf16 autocast), each at the largest
    size that fits ``budget_gib`` of GPU memory. Both are timed in the steady state: after
    their first ``skip_steps`` steps (warm-up), to the end."""
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    from training.model.tiny_model import init_tiny

    if not DEV.smoke:
        total_gib = torch.cuda.get_device_properties(0).total_memory / 2**30
        torch.cuda.set_per_process_memory_fraction(min(1.0, budget_gib / total_gib))
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_gpu_"))
    tok_dir = init_tiny(tmp / "tiny")  # its tokenizer's ids fit in flan-t5's vocabulary
    torch.manual_seed(0)
    sizes = dict(d_model=64, d_ff=128, num_layers=2, num_decoder_layers=2, num_heads=2,
                 d_kv=32) if DEV.smoke else {}
    model = T5ForConditionalGeneration(T5Config(**{**FLAN_T5_LARGE, **sizes}))
    model.save_pretrained(tmp / "large")
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    tokenizer.save_pretrained(tmp / "large")
    # 6 FLOPs per parameter per real token; embeddings excluded, the LM head included.
    embed = model.shared.weight.numel()
    enc_params = sum(p.numel() for p in model.encoder.parameters()) - embed
    dec_params = sum(p.numel() for p in model.decoder.parameters()) - embed \
        + model.lm_head.weight.numel()
    del model
    peak = matmul_tflops()
    print(f"bf16 matmul: {peak:.0f} TFLOP/s", flush=True)

    # The lengths of the shipped flan-t5 configs.
    cfg = load_config(overrides={"data.eval_fraction": 0.0, "data.max_records": records,
                                 "data.max_source_len": 512, "data.max_target_len": 256})
    data = build_data(cfg.data, lambda items: multitask_pairs(items, None, 42),
                      lambda items: [], 42, log=lambda _m: None)
    encoded = encode_pairs(data.train, tokenizer, cfg.data.max_source_len,
                           cfg.data.max_target_len)
    src_tokens = sum(len(e.input_ids) for e in encoded)
    tgt_tokens = sum(len(e.labels) for e in encoded)
    flops_per_epoch = 6 * (src_tokens * enc_params + tgt_tokens * dec_params)
    s_max = max(len(e.input_ids) for e in encoded)
    t_max = max(len(e.labels) for e in encoded)

    flops_per_token = flops_per_epoch / (src_tokens + tgt_tokens)

    def report(name: str, examples_per_s: float, tokens_per_s: float, peak_gib: float,
               size: str) -> dict:
        row = {"trainer": name, "size": size, "examples_per_s": round(examples_per_s, 1),
               "real_tokens_per_s": round(tokens_per_s),
               "mfu": round(tokens_per_s * flops_per_token / 1e12 / peak, 4),
               "peak_gib": round(peak_gib, 1)}
        print(json.dumps(row), flush=True)
        return row

    # Ours: the largest token budget whose worst batch (longest source and target) fits.
    ours_sizes = [2048] if DEV.smoke else [65536, 49152, 32768, 16384, 8192]
    budget, tried_ours = _largest(ours_sizes, lambda t: _probe_peak_gib(
        tmp / "large", torch.bfloat16, False, max(1, t // (s_max + t_max)), s_max, t_max),
        0.9 * budget_gib)  # headroom: real batches vary in shape (allocator fragments)
    print(f"ours: token budget {budget} (probed {tried_ours})", flush=True)
    _reset_accelerate()
    DEV.reset_peak()
    _ours(tmp / "large", tmp / "run", records, 1, {
        "train.max_tokens": budget, "train.weights_dtype": "bfloat16", "train.lr": lr,
        "train.warmup_steps": 5, "train.compile": compile_model,
        "data.max_source_len": cfg.data.max_source_len,
        "data.max_target_len": cfg.data.max_target_len}, epochs=epochs, log_every=skip_steps)
    ours_peak, ours_retries = DEV.peak_gib(), DEV.alloc_retries()
    lines = [json.loads(x) for x in (tmp / "run" / "metrics.jsonl").read_text().splitlines()]
    ours_eps, ours_tps, windows = steady_rate(lines, skip_windows=1)
    ours_row = report("ours", ours_eps, ours_tps, ours_peak, f"max_tokens={budget}")
    ours_row["final_loss"] = lines[-1].get("train/loss")
    ours_row["steady_windows"] = windows
    ours_row["alloc_retries"] = ours_retries
    # Seconds of each window of skip_steps steps: the first holds the warm-up.
    ours_row["window_s"] = [round(x["train/window_s"], 2) for x in lines if "train/window_s" in x]

    # Seq2SeqTrainer: the largest batch whose worst case (every row longest) fits.
    hf_sizes = [8] if DEV.smoke else [128, 96, 64, 48, 32, 16, 8]
    batch, tried_hf = _largest(hf_sizes, lambda b: _probe_peak_gib(
        tmp / "large", torch.float32, True, b, s_max, t_max), 0.9 * budget_gib)
    print(f"Seq2SeqTrainer: batch {batch} (probed {tried_hf})", flush=True)
    DEV.reset_peak()
    hf_eps, hf_peak = _hf_gpu(tmp / "large", encoded, tokenizer, tmp / "hf", batch, lr,
                              epochs, skip_steps)
    # Random batches: real tokens per example are the epoch's mean.
    hf_tps = hf_eps * (src_tokens + tgt_tokens) / len(encoded)
    hf_row = report("Seq2SeqTrainer", hf_eps, hf_tps, hf_peak, f"batch={batch}")
    hf_row["alloc_retries"] = DEV.alloc_retries()
    return {"device": DEV.label(), "bf16_matmul_tflops": round(peak, 1),
            "memory_budget_gib": budget_gib, "pairs": len(encoded), "records": records,
            "epochs": epochs, "timed_after_steps": skip_steps,
            "encoder_params": enc_params, "decoder_params": dec_params,
            "ours": ours_row, "seq2seqtrainer": hf_row,
            "tokens_per_s_ratio_ours_over_hf": round(ours_tps / hf_tps, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=800,
                        help="feedback records (x3 multitask pairs); both run one epoch")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--gpu", action="store_true", help="also the flan-t5-large run")
    parser.add_argument("--gpu-only", action="store_true", help="only the flan-t5-large run")
    parser.add_argument("--gpu-records", type=int, default=400,
                        help="feedback records for the GPU run (x3 pairs)")
    parser.add_argument("--memory-gib", type=float, default=60.0,
                        help="GPU memory budget each trainer's size is chosen to fit")
    parser.add_argument("--lr", type=float, default=1e-4,
                        help="GPU run's peak learning rate (random weights train finitely)")
    parser.add_argument("--compile", action="store_true", help="ours with torch.compile")
    parser.add_argument("--gpu-epochs", type=int, default=2,
                        help="epochs each trainer runs in the GPU run")
    parser.add_argument("--skip-steps", type=int, default=5,
                        help="GPU run: steps of warm-up left out of the timing (each trainer)")
    parser.add_argument("--gpu-smoke", action="store_true",
                        help="run the --gpu code on CPU with a small T5 (checks the script)")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = parser.parse_args()
    results: dict = {}
    if args.gpu_smoke:
        global DEV
        DEV = Device(smoke=True)
        args.gpu_only = True
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
        if not DEV.smoke and not torch.cuda.is_available():
            raise SystemExit("--gpu: no CUDA device")
        results["gpu"] = g = gpu_benchmark(args.gpu_records, args.memory_gib, args.lr,
                                           args.compile, args.gpu_epochs, args.skip_steps)
        print(json.dumps(g, indent=2))
        print(f"GPU: ours {g['ours']['real_tokens_per_s']} real tokens/s, MFU "
              f"{g['ours']['mfu']:.1%}; Seq2SeqTrainer {g['seq2seqtrainer']['real_tokens_per_s']}"
              f" tokens/s, MFU {g['seq2seqtrainer']['mfu']:.1%}; ratio "
              f"{g['tokens_per_s_ratio_ours_over_hf']}x (goals: MFU >= 35%, ratio >= 3x)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
