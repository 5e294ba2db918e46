"""The training loop both objectives share: set up, loop, evaluate, save.

A recipe (training/multitask.py, training/refine.py) is an :class:`Objective`: its name, how
feedback records become pairs, and the terms its collator indexes. Everything else (batches
by token budget, precision, the numerics guard, checkpoints, resume, logging) lives here
once.

The step stays on the device: loss sums and token counts are tensors read only at log time.

Precision: fp32 (default); fp32 weights with bf16 autocast (``mixed_precision=bf16``); or
bf16 weights (``weights_dtype=bfloat16``) with fp32 master weights and AdamW state
(``master_weights``, default) or pure bf16 (``master_weights=false``, half the memory, 16%
higher loss after 30 steps of the tiny T5). On the tiny T5 on CPU, autocast and master
weights land within 2% of fp32's loss (tests/training/test_training_loop.py).

Numerics guard: see :mod:`training.numerics_guard`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from feedback_data.disk_full import DiskFull
from feedback_data.provenance import git_commit
from feedback_data.schema import FeedbackItem
from training import checkpoint as ckpt
from training.batching import EpochBatchSampler, grouped_batches, padding_efficiency
from training.collate import make_collator
from training.config import ConfigError, RecipeConfig, to_dict, to_yaml
from training.config_checks import require_run_fields
from training.data import build_data
from training.evaluate import evaluate
from training.examples import Pair
from training.metrics_log import MetricsLogger, tensorboard_available
from training.modeling import (
    check_backend,
    load_model,
    load_model_config,
    load_tokenizer,
    make_optimizer,
    make_scheduler,
    total_steps,
    trainable_parameters,
)
from training.numerics_guard import NonFiniteError, NumericsGuard
from training.run_dir import prepare_run_dir
from training.run_guard import guard_run
from training.step_window import Window
from training.stop_signals import RunInterrupted, StopSignals

PairsFn = Callable[[Sequence[FeedbackItem]], list[Pair]]


@dataclass(frozen=True)
class Objective:
    """What a recipe brings to the loop."""

    name: str
    train_pairs: PairsFn  # feedback records -> training pairs
    eval_pairs: PairsFn  # feedback records -> held-out pairs
    terms: tuple[str, ...]  # the collator's term order (per-term held-out losses)


def _check_settings(cfg: RecipeConfig) -> None:
    t = cfg.train
    if t.max_tokens < 0:
        raise ConfigError("train.max_tokens must be >= 0 (0 = batches of train.batch_size)")
    if t.max_nonfinite_skips < 0:
        raise ConfigError("train.max_nonfinite_skips must be >= 0")
    if t.weights_dtype == "bfloat16" and t.mixed_precision == "fp16":
        raise ConfigError("train.weights_dtype=bfloat16 does not combine with fp16 autocast")


def _sharded(accelerator: Any) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)


def _batches(examples: list[Any], t: Any, group_by_length: bool) -> EpochBatchSampler:
    return EpochBatchSampler(examples, t.batch_size, t.seed, group_by_length, t.max_tokens)


def train(cfg: RecipeConfig, objective: Objective) -> Path:
    """Run ``objective`` as configured; returns the ``final/`` folder.

    The run holds its folder throughout (:func:`training.run_guard.guard_run`: one writer,
    a full disk said in one line); the first Ctrl-C or SIGTERM ends it after the current
    step with a checkpoint (:mod:`training.stop_signals`)."""
    require_run_fields(cfg)
    with guard_run(Path(cfg.train.output_dir)) as stop:
        return _train(cfg, objective, stop)


def _train(cfg: RecipeConfig, objective: Objective, stop: StopSignals) -> Path:
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    require_run_fields(cfg)
    _check_settings(cfg)
    name = objective.name
    if cfg.objective != name:
        raise ConfigError(f"this is the {name} recipe; the config asks for '{cfg.objective}'")
    t, run_dir = cfg.train, Path(cfg.train.output_dir)
    accelerator = Accelerator(
        # Without a GPU a multi-process launch (accelerate launch --multi_gpu, torchrun)
        # trains on CPUs over gloo; accelerate does that only when told cpu=True.
        cpu=not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1,
        mixed_precision=t.mixed_precision,
        log_with="tensorboard" if t.tensorboard and tensorboard_available() else None,
        project_dir=str(run_dir))
    say = accelerator.print
    check_backend(accelerator, t)

    # --- data: feedback -> pairs -> tokens -> length-grouped batches ----------------------
    data = build_data(cfg.data, objective.train_pairs, objective.eval_pairs, t.seed, log=say)
    tokenizer = load_tokenizer(cfg.model.name_or_path)
    encode, collate = make_collator(load_model_config(cfg.model.name_or_path), tokenizer,
                                    objective.terms,
                                    extra_terms=sorted({p.term for p in data.train + data.eval}))
    train_set = encode(data.train, tokenizer, cfg.data.max_source_len, cfg.data.max_target_len)
    eval_set = encode(data.eval, tokenizer, cfg.data.max_source_len, cfg.data.max_target_len)
    sampler = _batches(train_set, t, cfg.data.group_by_length)
    # Own generators: creating a loader iterator draws a seed, which must not come from the
    # global RNG (a resumed run creates one where an uninterrupted run does not).
    loader = DataLoader(train_set, batch_sampler=sampler, collate_fn=collate,
                        generator=torch.Generator().manual_seed(t.seed))
    eval_loader = DataLoader(eval_set, collate_fn=collate, batch_sampler=grouped_batches(
        eval_set, t.batch_size, t.seed, max_tokens=t.max_tokens),
        generator=torch.Generator().manual_seed(t.seed)) if eval_set else None

    # --- model, optimizer, schedule ------------------------------------------------------
    set_seed(t.seed)
    model = load_model(cfg.model, getattr(torch, t.weights_dtype))
    if t.weights_dtype == "bfloat16" and t.master_weights:
        if _sharded(accelerator):
            raise ConfigError("train.master_weights needs the whole model on each process; "
                              "under FSDP/DeepSpeed use weights_dtype=float32 with "
                              "mixed_precision=bf16")
        model.to(accelerator.device)  # the fp32 copies are made on the training device
    optimizer = make_optimizer(model, t, accelerator.device)
    steps = total_steps(t, sampler.epoch_length(0), accelerator.num_processes)
    scheduler = make_scheduler(optimizer, t, steps)
    signature = ckpt.model_signature(model)
    trainable, total = trainable_parameters(model)
    run_info = {
        "objective": name, "model": cfg.model.name_or_path, "seed": t.seed,
        "git_commit": git_commit(), "started": datetime.now(UTC).isoformat(),
        "counts": data.counts, "total_steps": steps, "num_processes": accelerator.num_processes,
        "distributed_type": str(accelerator.distributed_type.value),
        "mixed_precision": str(accelerator.mixed_precision),
        "parameters": {"trainable": trainable, "total": total},
        "padding_efficiency": round(padding_efficiency(train_set, sampler.batches(0)), 4),
    }
    resume_from = prepare_run_dir(run_dir, t.resume, to_yaml(cfg), run_info,
                                  accelerator.is_main_process)
    accelerator.wait_for_everyone()
    say(f"{name}: {data.counts['pairs_train']} training pairs "
        f"{data.counts['pairs_train_by_term']}, {len(eval_set)} held out; "
        f"{trainable:,} of {total:,} parameters trained; {steps} steps")
    if t.compile:  # in place: state_dict keys and unwrap_model stay as they are
        model.compile(dynamic=True)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    if eval_loader is not None:
        eval_loader = accelerator.prepare(eval_loader)

    step, epoch, batches_done, seen = 0, 0, 0, 0
    if resume_from is not None:
        state = ckpt.load_checkpoint(resume_from, accelerator, model, optimizer, scheduler,
                                     name, signature)
        step, epoch, batches_done, seen = (state["step"], state["epoch"],
                                           state["batches_done"], state["samples_seen"])
        say(f"resumed from {resume_from} (step {step})")
    logger = MetricsLogger(run_dir, accelerator, resume_step=step if resume_from else None)
    logger.log_config(to_dict(cfg))
    guard = NumericsGuard(accelerator, optimizer, logger, t.max_nonfinite_skips,
                          check_grad_norm=t.mixed_precision != "fp16", log=say)

    def save() -> None:
        guard.check()  # never write weights past a step the guard has not cleared
        ckpt.save_checkpoint(run_dir, accelerator, model, tokenizer, optimizer, scheduler,
                             {"step": step, "epoch": epoch, "batches_done": batches_done,
                              "samples_seen": seen, "objective": name,
                              "signature": signature, "total_steps": steps},
                             t.keep_checkpoints)

    # --- loop ------------------------------------------------------------------------------
    bar = tqdm(total=steps, initial=step, desc=name, dynamic_ncols=True,
               disable=not (accelerator.is_main_process and t.progress_bar))
    window = Window(accelerator.device, decoder_only=any(e.decoder_only for e in train_set))
    max_norm = t.max_grad_norm if t.max_grad_norm > 0 else float("inf")
    model.train()
    while step < steps:
        if batches_done >= sampler.epoch_length(epoch):
            epoch, batches_done = epoch + 1, 0
        sampler.set_position(epoch, skip=batches_done)
        batches_per_epoch = sampler.epoch_length(epoch)
        group: list[dict[str, torch.Tensor]] = []
        for batch in loader:
            group.append(batch)
            batches_done += accelerator.num_processes
            if len(group) < t.grad_accum and batches_done < batches_per_epoch:
                continue
            # One optimizer step over the group of micro-batches (gradient accumulation).
            step_loss = torch.zeros((), device=accelerator.device)
            for i, micro in enumerate(group):
                micro = {k: v for k, v in micro.items() if k != "term"}
                sync = i == len(group) - 1
                with accelerator.no_sync(model) if not sync else nullcontext():
                    loss = model(**micro).loss
                    accelerator.backward(loss / len(group))
                step_loss += loss.detach().float()
                window.add(loss, micro)
            # With clipping off, max_norm=inf still returns the norm the guard needs.
            grad_norm = accelerator.clip_grad_norm_(model.parameters(), max_norm)
            if guard.step_ok(step + 1, step_loss, grad_norm):
                optimizer.step()
            if not accelerator.optimizer_step_was_skipped:  # fp16's loss scaler may skip
                scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            seen += sum(m["input_ids"].shape[0] for m in group) * accelerator.num_processes
            group = []
            bar.update(1)

            if step % t.log_every == 0 or step == steps:
                metrics = window.read(accelerator)
                metrics["train/lr"] = scheduler.get_last_lr()[0]
                metrics["train/epoch"] = epoch
                if t.max_grad_norm > 0:
                    metrics["train/grad_norm"] = float(grad_norm)
                logger.log(metrics, step)
                guard.check()
                bar.set_postfix(loss=f"{metrics['train/loss']:.3f}")
            if eval_loader is not None and (
                    (t.eval_every and step % t.eval_every == 0) or step == steps):
                logger.log(evaluate(model, eval_loader, accelerator, collate.terms), step)
            if t.save_every and (step % t.save_every == 0 or step == steps):
                save()
            if t.step_sleep:
                time.sleep(t.step_sleep)
            if step < steps and stop.requested(accelerator):  # Ctrl-C / SIGTERM: save, stop
                if not (t.save_every and step % t.save_every == 0):
                    save()
                bar.close()
                logger.close()
                raise stop.interrupted(step, (ckpt.list_checkpoints(run_dir) or [None])[-1],
                                       accelerator.num_processes, say)
            if step >= steps:
                break
        else:
            batches_done = batches_per_epoch  # the epoch ran out
    bar.close()

    # --- save --------------------------------------------------------------------------------
    guard.check()
    final = ckpt.save_final(run_dir, accelerator, model, tokenizer)
    logger.close()
    say(f"wrote {final}")
    return final


def main(objective: str, recipe: Callable[[RecipeConfig], Path],
         argv: list[str] | None = None) -> None:
    """A recipe module's command line: ``--config YAML [overrides]``; errors are one line."""
    import sys

    from training.config_load import load_config, split_launch_args

    path, overrides = split_launch_args(sys.argv[1:] if argv is None else argv)
    try:
        recipe(load_config(path, overrides, objective=objective))
    except RunInterrupted as exc:  # the loop has said where it stopped
        sys.exit(exc.exit_code)
    except (ConfigError, ckpt.CheckpointError, NonFiniteError, DiskFull) as exc:
        sys.exit(f"error: {exc}")
