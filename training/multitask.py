"""Multitask recipe: one model learns to answer, to name a chain's errors and to describe them.

Each feedback record gives three pairs (see training/examples.py); the batches mix them in
the configured shares, so the loss summed over an epoch is the weighted sum of the three
terms' losses. Read top to bottom: set up, loop, evaluate, save.

    accelerate launch -m training.multitask --config configs/multitask/tiny.yaml \
        --model /tmp/tiny --out runs/mt
    rhf train --objective multitask --model /tmp/tiny --out runs/mt [--resume] [lr=1e-4 ...]
"""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from training import checkpoint as ckpt
from training.batching import EpochBatchSampler, grouped_batches, padding_efficiency
from training.collate import MultitaskCollator, encode_pairs
from training.config import (
    ConfigError,
    RecipeConfig,
    load_config,
    require_run_fields,
    split_launch_args,
    to_dict,
    to_yaml,
)
from training.data import build_data
from training.evaluate import evaluate
from training.examples import multitask_pairs
from training.metrics_log import MetricsLogger, tensorboard_available
from training.modeling import (
    check_backend,
    load_model,
    load_tokenizer,
    make_optimizer,
    make_scheduler,
    total_steps,
    trainable_parameters,
)

OBJECTIVE = "multitask"


def train(cfg: RecipeConfig) -> Path:
    """Run the recipe; returns the ``final/`` folder (loadable with ``from_pretrained``)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    require_run_fields(cfg)
    if cfg.objective != OBJECTIVE:
        raise ConfigError(f"this is the {OBJECTIVE} recipe; the config asks for "
                          f"'{cfg.objective}'")
    t, run_dir = cfg.train, Path(cfg.train.output_dir)
    accelerator = Accelerator(
        mixed_precision=t.mixed_precision,
        log_with="tensorboard" if t.tensorboard and tensorboard_available() else None,
        project_dir=str(run_dir))
    say = accelerator.print
    check_backend(accelerator, t)

    # --- data: feedback -> pairs -> tokens -> length-grouped batches ----------------------
    weights = cfg.data.term_weights
    data = build_data(cfg.data, lambda items: multitask_pairs(items, weights, t.seed),
                      lambda items: multitask_pairs(items, None, t.seed), t.seed, log=say)
    tokenizer = load_tokenizer(cfg.model.name_or_path)
    train_set = encode_pairs(data.train, tokenizer, cfg.data.max_source_len,
                             cfg.data.max_target_len)
    eval_set = encode_pairs(data.eval, tokenizer, cfg.data.max_source_len,
                            cfg.data.max_target_len)
    collate = MultitaskCollator(tokenizer.pad_token_id,
                                extra_terms=sorted({p.term for p in data.train + data.eval}))
    sampler = EpochBatchSampler(train_set, t.batch_size, t.seed, cfg.data.group_by_length)
    # Own generators: creating a loader iterator draws a seed, which must not come from the
    # global RNG (a resumed run creates one where an uninterrupted run does not).
    loader = DataLoader(train_set, batch_sampler=sampler, collate_fn=collate,
                        generator=torch.Generator().manual_seed(t.seed))
    eval_loader = DataLoader(eval_set, collate_fn=collate, batch_sampler=grouped_batches(
        eval_set, t.batch_size, t.seed), generator=torch.Generator().manual_seed(t.seed)
    ) if eval_set else None
    batches_per_epoch = len(sampler)

    # --- model, optimizer, schedule ------------------------------------------------------
    set_seed(t.seed)
    model = load_model(cfg.model)
    optimizer = make_optimizer(model, t)
    steps = total_steps(t, batches_per_epoch, accelerator.num_processes)
    scheduler = make_scheduler(optimizer, t, steps)
    signature = ckpt.model_signature(model)
    trainable, total = trainable_parameters(model)
    run_info = {
        "objective": OBJECTIVE, "model": cfg.model.name_or_path, "seed": t.seed,
        "git_commit": ckpt.git_commit(), "started": datetime.now(UTC).isoformat(),
        "counts": data.counts, "total_steps": steps, "num_processes": accelerator.num_processes,
        "parameters": {"trainable": trainable, "total": total},
        "padding_efficiency": round(padding_efficiency(train_set, sampler.batches()), 4),
    }
    resume_from = ckpt.prepare_run_dir(run_dir, t.resume, to_yaml(cfg), run_info,
                                       accelerator.is_main_process)
    accelerator.wait_for_everyone()
    say(f"{OBJECTIVE}: {data.counts['pairs_train']} training pairs "
        f"{data.counts['pairs_train_by_term']}, {len(eval_set)} held out; "
        f"{trainable:,} of {total:,} parameters trained; {steps} steps")
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    if eval_loader is not None:
        eval_loader = accelerator.prepare(eval_loader)

    step, epoch, batches_done, seen = 0, 0, 0, 0
    if resume_from is not None:
        state = ckpt.load_checkpoint(resume_from, accelerator, model, optimizer, scheduler,
                                     OBJECTIVE, signature)
        step, epoch, batches_done, seen = (state["step"], state["epoch"],
                                           state["batches_done"], state["samples_seen"])
        say(f"resumed from {resume_from} (step {step})")
    logger = MetricsLogger(run_dir, accelerator, resume_step=step if resume_from else None)
    logger.log_config(to_dict(cfg))

    # --- loop ------------------------------------------------------------------------------
    bar = tqdm(total=steps, initial=step, desc=OBJECTIVE, dynamic_ncols=True,
               disable=not (accelerator.is_main_process and t.progress_bar))
    window = {"loss": 0.0, "n": 0, "examples": 0, "tokens": 0, "start": time.perf_counter()}
    model.train()
    while step < steps:
        if batches_done >= batches_per_epoch:
            epoch, batches_done = epoch + 1, 0
        sampler.set_position(epoch, skip=batches_done)
        group: list[dict[str, torch.Tensor]] = []
        for batch in loader:
            group.append(batch)
            batches_done += accelerator.num_processes
            if len(group) < t.grad_accum and batches_done < batches_per_epoch:
                continue
            # One optimizer step over the group of micro-batches (gradient accumulation).
            for i, micro in enumerate(group):
                micro = {k: v for k, v in micro.items() if k != "term"}
                sync = i == len(group) - 1
                with accelerator.no_sync(model) if not sync else nullcontext():
                    loss = model(**micro).loss
                    accelerator.backward(loss / len(group))
                window["loss"] += loss.detach().float().item()
                window["n"] += 1
                window["examples"] += micro["input_ids"].shape[0]
                window["tokens"] += int(micro["attention_mask"].sum()
                                        + (micro["labels"] != -100).sum())
            grad_norm = (accelerator.clip_grad_norm_(model.parameters(), t.max_grad_norm)
                         if t.max_grad_norm > 0 else None)
            optimizer.step()
            if not accelerator.optimizer_step_was_skipped:
                scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            seen += sum(m["input_ids"].shape[0] for m in group) * accelerator.num_processes
            group = []
            bar.update(1)

            if step % t.log_every == 0 or step == steps:
                elapsed = time.perf_counter() - window["start"]
                metrics = {"train/loss": window["loss"] / max(1, window["n"]),
                           "train/lr": scheduler.get_last_lr()[0], "train/epoch": epoch,
                           "train/examples_per_s": window["examples"] / elapsed,
                           "train/tokens_per_s": window["tokens"] / elapsed}
                if grad_norm is not None:
                    metrics["train/grad_norm"] = float(grad_norm)
                logger.log(metrics, step)
                bar.set_postfix(loss=f"{metrics['train/loss']:.3f}")
                window = {"loss": 0.0, "n": 0, "examples": 0, "tokens": 0,
                          "start": time.perf_counter()}
            if eval_loader is not None and (
                    (t.eval_every and step % t.eval_every == 0) or step == steps):
                logger.log(evaluate(model, eval_loader, accelerator, collate.terms), step)
            if (t.save_every and step % t.save_every == 0) or (t.save_every and step == steps):
                ckpt.save_checkpoint(run_dir, accelerator, model, tokenizer, optimizer,
                                     scheduler, {"step": step, "epoch": epoch,
                                                 "batches_done": batches_done,
                                                 "samples_seen": seen, "objective": OBJECTIVE,
                                                 "signature": signature,
                                                 "total_steps": steps}, t.keep_checkpoints)
            if t.step_sleep:
                time.sleep(t.step_sleep)
            if step >= steps:
                break
        else:
            batches_done = batches_per_epoch  # the epoch ran out
    bar.close()

    # --- save --------------------------------------------------------------------------------
    final = ckpt.save_final(run_dir, accelerator, model, tokenizer)
    logger.close()
    say(f"wrote {final}")
    return final


def main(argv: list[str] | None = None) -> None:
    """``python -m training.multitask --config YAML [overrides]`` (also under accelerate)."""
    path, overrides = split_launch_args(sys.argv[1:] if argv is None else argv)
    try:
        train(load_config(path, overrides, objective=OBJECTIVE))
    except (ConfigError, ckpt.CheckpointError) as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
