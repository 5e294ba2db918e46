"""The training loop both objectives share: set up, loop, evaluate, save.

A recipe (training/recipe/multitask.py, training/recipe/refine.py) is an :class:`Objective`:
its name, how feedback records become pairs, and the terms its collator indexes. Everything
else (batches by token budget, precision, the numerics guard, checkpoints, resume, logging)
lives here once.

The step stays on the device: loss sums and token counts are tensors read only at log time.

Loss: each optimizer step trains one term (the sampler's ``term_step_batches``, shares from
``data.term_weights``); its loss is the sum of its target tokens' cross-entropies over their
number, across every micro-batch and process of the step (:mod:`training.recipe.loss`).

Validation (:mod:`training.recipe.validation`): at each evaluation, answer accuracy on the
validation questions and detection AUROC on the held-out records; with ``train.select_by`` the best
evaluation's weights become ``final/`` (``train.patience`` stops early).

Precision: fp32 (default); fp32 weights with bf16 autocast (``mixed_precision=bf16``); or
bf16 weights (``weights_dtype=bfloat16``) with fp32 master weights and AdamW state
(``master_weights``, default) or pure bf16 (``master_weights=false``, half the memory, 16%
higher loss after 30 steps of the tiny T5). On the tiny T5 on CPU, autocast and master
weights land within 2% of fp32's loss (tests/training/test_training_loop.py).

Numerics guard: see :mod:`training.recipe.numerics_guard`.
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

from feedback_data.files.disk_full import DiskFull
from feedback_data.records.provenance import git_commit
from feedback_data.records.schema import FeedbackItem
from training.data.batching import (
    EpochBatchSampler,
    batch_terms,
    grouped_batches,
    padding_efficiency,
)
from training.data.build import build_data
from training.data.collate import make_collator
from training.data.examples import MULTITASK_TERMS, REFINE_TERM, REPLAY_TERM, Pair
from training.model.modeling import (
    check_backend,
    load_model,
    load_model_config,
    load_tokenizer,
    make_optimizer,
    make_scheduler,
    total_steps,
    trainable_parameters,
)
from training.recipe.evaluate import evaluate
from training.recipe.loss import step_tokens, token_loss_sum
from training.recipe.model_card import write_card
from training.recipe.numerics_guard import NonFiniteError, NumericsGuard
from training.recipe.step_window import Window
from training.recipe.trackers import accelerator_kwargs, start_training_run
from training.recipe.validation import Selection, ValidateFn, Validator
from training.run import checkpoint as ckpt
from training.run.config import ConfigError, RecipeConfig, to_dict, to_yaml
from training.run.config_checks import require_run_fields
from training.run.metrics_log import MetricsLogger
from training.run.run_folder import guard_run, prepare_run_dir
from training.run.stop_signals import RunInterrupted, StopSignals
from training.run.world import run_world

PairsFn = Callable[[Sequence[FeedbackItem]], list[Pair]]
PairsFnItems = Callable[[Sequence[FeedbackItem]], list[FeedbackItem]]
# The multitask run's critic chosen apart from its answerer (train.select_critic_by).
CRITIC_DIR = "critic"


@dataclass(frozen=True)
class Objective:
    """What a recipe brings to the loop."""

    name: str
    train_pairs: PairsFn  # feedback records -> training pairs
    eval_pairs: PairsFn  # feedback records -> held-out pairs
    terms: tuple[str, ...]  # the collator's term order (per-term held-out losses)
    validate: ValidateFn  # the objective's validator (its registry entry's)
    # Filled by train_pairs with what it counted (run.json counts.critic), if anything.
    counts: dict[str, Any] | None = None
    # Held-out records -> synthetic critic records validated beside them (val/auroc_all).
    val_extra: PairsFnItems | None = None


def _check_settings(cfg: RecipeConfig) -> None:
    t = cfg.train
    if t.max_tokens < 0:
        raise ConfigError("train.max_tokens must be >= 0 (0 = batches of train.batch_size)")
    if t.max_nonfinite_skips < 0:
        raise ConfigError("train.max_nonfinite_skips must be >= 0")
    if t.weights_dtype == "bfloat16" and t.mixed_precision == "fp16":
        raise ConfigError("train.weights_dtype=bfloat16 does not combine with fp16 autocast")
    if t.select_by and not t.eval_every and t.patience:
        raise ConfigError("train.patience needs train.eval_every > 0 (evaluations to wait)")


def _sharded(accelerator: Any) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)


def term_shares(terms: set[str], weights: dict[str, float], replay_share: float
                ) -> dict[str, float]:
    """Each present term's share of the optimizer steps: replay gets ``replay_share``, the
    others share the rest by ``weights`` (a term without a weight, e.g. a pairs file's,
    weighs 1.0).

    >>> term_shares({"answer", "error_types", "replay"}, {"answer": 3.0, "error_types": 1.0},
    ...             0.2)
    {'answer': 0.6000000000000001, 'error_types': 0.2, 'replay': 0.2}
    """
    others = {t: (weights.get(t, 0.0) if t in MULTITASK_TERMS else 1.0)
              for t in sorted(terms) if t != REPLAY_TERM}
    total = sum(others.values())
    rest = 1.0 - (replay_share if REPLAY_TERM in terms else 0.0)
    shares = {t: rest * w / total for t, w in others.items()} if total > 0 else {}
    if REPLAY_TERM in terms:
        shares[REPLAY_TERM] = replay_share if others else 1.0
    return dict(sorted(shares.items()))


def _batches(examples: list[Any], t: Any, group_by_length: bool, shares: dict[str, float],
             group: int) -> EpochBatchSampler:
    return EpochBatchSampler(examples, t.batch_size, t.seed, group_by_length, t.max_tokens,
                             shares=shares, group=group)


def _term_mix(sampler: EpochBatchSampler, train_set: list[Any], steps: int, group: int
              ) -> dict[str, Any]:
    """How many of the run's optimizer steps each term gets, and its share."""
    counts: dict[str, int] = {}
    epoch, done = 0, 0
    while done < steps:
        terms = batch_terms(train_set, sampler.batches(epoch))[::group]
        for term in terms[:steps - done]:
            counts[term] = counts.get(term, 0) + 1
        done += min(len(terms), steps - done)
        epoch += 1
    return {t: {"steps": n, "share": round(n / steps, 4)} for t, n in sorted(counts.items())}


def train(cfg: RecipeConfig, objective: Objective) -> Path:
    """Run ``objective`` as configured; returns the ``final/`` folder.

    The run holds its folder throughout (:func:`training.run.run_folder.guard_run`: one writer,
    a full disk said in one line); the first Ctrl-C or SIGTERM ends it after the current
    step with a checkpoint (:mod:`training.run.stop_signals`)."""
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
        **accelerator_kwargs(t.report_to, run_dir))  # a missing tracker: one line, here
    say = accelerator.print
    check_backend(accelerator, t)

    # --- data: feedback -> pairs -> tokens -> length-grouped batches ----------------------
    data = build_data(cfg.data, objective.train_pairs, objective.eval_pairs, t.seed, log=say,
                      val_statements=t.val_statements if t.validate and name != "critic"
                      else 0)
    if objective.counts:
        data.counts["critic"] = dict(objective.counts)
    tokenizer = load_tokenizer(cfg.model.name_or_path)
    encode, collate = make_collator(load_model_config(cfg.model.name_or_path), tokenizer,
                                    objective.terms,
                                    extra_terms=sorted({p.term for p in data.train + data.eval}))
    train_set = encode(data.train, tokenizer, cfg.data.max_source_len, cfg.data.max_target_len)
    eval_set = encode(data.eval, tokenizer, cfg.data.max_source_len, cfg.data.max_target_len)
    group = t.grad_accum * accelerator.num_processes  # the batches of one optimizer step
    try:
        shares = term_shares({e.term for e in train_set}, cfg.data.term_weights,
                             cfg.data.replay_share)
        sampler = _batches(train_set, t, cfg.data.group_by_length, shares, group)
        sampler.batches(0)
    except ValueError as exc:
        raise ConfigError(f"data.term_weights: {exc}") from None
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
    validator = None
    if t.validate and (data.val_examples or data.val_items):
        if _sharded(accelerator):
            raise ConfigError("train.validate generates with the whole model, which FSDP and "
                              "DeepSpeed shard; set train.validate=false under them")
        extra = objective.val_extra(data.val_items) if objective.val_extra else []
        validator = Validator(name, data.val_examples, data.val_items,
                              cfg.data.max_source_len, t.val_max_new_tokens,
                              cfg.data.chain_order, extra_items=extra,
                              scoring="sum" if t.critic_scoring == "auto" else t.critic_scoring,
                              run=objective.validate)
        data.counts["validation"]["critic_records"] = {
            "real": len(data.val_items), "synthetic": len(extra),
            "no_error": sum(not i.feedback.error_types for i in validator.critic_items)}
    if t.select_by.startswith("val/") and validator is None:
        raise ConfigError(f"train.select_by {t.select_by!r}: there are no validation "
                          "questions (data.eval_fraction is 0 or no records are held out)")
    scheduler = make_scheduler(optimizer, t, steps)
    signature = ckpt.model_signature(model)
    world = run_world(accelerator.num_processes, t.batch_size, t.grad_accum,
                      str(accelerator.mixed_precision), accelerator.device.type)
    trainable, total = trainable_parameters(model)
    run_info = {
        "objective": name, "model": cfg.model.name_or_path, "seed": t.seed,
        "git_commit": git_commit(), "started": datetime.now(UTC).isoformat(),
        "counts": data.counts, "total_steps": steps, "num_processes": accelerator.num_processes,
        "distributed_type": str(accelerator.distributed_type.value),
        "mixed_precision": str(accelerator.mixed_precision),
        "parameters": {"trainable": trainable, "total": total},
        "padding_efficiency": round(padding_efficiency(train_set, sampler.batches(0)), 4),
        "term_shares": shares, "term_mix": _term_mix(sampler, train_set, steps, group),
        "validation_questions": [e.id for e in data.val_examples],
        "world": world,
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
    selection = Selection(t.select_by, t.patience) if t.select_by else None
    critic_selection = Selection(t.select_critic_by) if t.select_critic_by and \
        name != REFINE_TERM else None
    # The validation rows of the evaluation final/ (and critic/) hold: the reading is fitted
    # on them at the end.
    critic_rows: dict[str, list[Any]] = {}
    if resume_from is not None:
        state = ckpt.load_checkpoint(resume_from, accelerator, model, optimizer, scheduler,
                                     name, signature)
        step, epoch, batches_done, seen = (state["step"], state["epoch"],
                                           state["batches_done"], state["samples_seen"])
        if selection is not None:
            selection = Selection.from_state(state.get("selection") or {}, t.select_by,
                                             t.patience)
        say(f"resumed from {resume_from} (step {step})")
    logger = MetricsLogger(run_dir, accelerator, resume_step=step if resume_from else None,
                           jsonl="jsonl" in t.report_to)
    start_training_run(accelerator, to_dict(cfg), run_info, run_dir, t.tracker_project,
                       resume=resume_from is not None)
    guard = NumericsGuard(accelerator, optimizer, logger, t.max_nonfinite_skips,
                          check_grad_norm=t.mixed_precision != "fp16", log=say)

    def save() -> None:
        guard.check()  # never write weights past a step the guard has not cleared
        ckpt.save_checkpoint(run_dir, accelerator, model, tokenizer, optimizer, scheduler,
                             {"step": step, "epoch": epoch, "batches_done": batches_done,
                              "samples_seen": seen, "objective": name,
                              "signature": signature, "total_steps": steps, "world": world,
                              "selection": selection.state() if selection else None},
                             t.keep_checkpoints)

    def evaluation() -> bool:
        """Held-out loss and validation metrics, logged; the best model saved. True when
        patience has run out."""
        metrics = evaluate(model, eval_loader, accelerator, collate.terms) \
            if eval_loader is not None else {}
        if validator is not None:
            metrics.update(validator(model, tokenizer, accelerator))
        if not metrics:
            return False
        logger.log(metrics, step)
        rows = validator.last_rows if validator is not None else []
        if critic_selection is not None and critic_selection.update(metrics, step):
            ckpt.save_final(run_dir, accelerator, model, tokenizer, name=CRITIC_DIR)
            critic_rows[CRITIC_DIR] = rows
            say(f"step {step}: best critic {t.select_critic_by} "
                f"{critic_selection.best:.4f} so far")
        if selection is None:
            critic_rows["final"] = rows
            return False
        if selection.update(metrics, step):
            ckpt.save_final(run_dir, accelerator, model, tokenizer, name=ckpt.BEST)
            critic_rows["final"] = rows
            say(f"step {step}: best {t.select_by} {selection.best:.4f} so far")
        return selection.should_stop()

    # --- loop ------------------------------------------------------------------------------
    bar = tqdm(total=steps, initial=step, desc=name, dynamic_ncols=True,
               disable=not (accelerator.is_main_process and t.progress_bar))
    window = Window(accelerator.device, decoder_only=any(e.decoder_only for e in train_set))
    max_norm = t.max_grad_norm if t.max_grad_norm > 0 else float("inf")
    encoder_decoder = not any(e.decoder_only for e in train_set)
    stop_early = False
    model.train()
    while step < steps and not stop_early:
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
            # One optimizer step over the group of micro-batches (gradient accumulation):
            # summed token losses over the step's target tokens on every process.
            tokens = step_tokens(group, encoder_decoder, accelerator)
            scale = accelerator.num_processes / tokens  # DDP averages over the processes
            step_loss = torch.zeros((), device=accelerator.device)
            for i, micro in enumerate(group):
                micro = {k: v for k, v in micro.items() if k != "term"}
                sync = i == len(group) - 1
                with accelerator.no_sync(model) if not sync else nullcontext():
                    loss_sum = token_loss_sum(model(**micro).logits, micro["labels"],
                                              encoder_decoder)
                    accelerator.backward(loss_sum * scale)
                step_loss += loss_sum.detach().double() * scale
                window.add(loss_sum, micro, encoder_decoder)
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
            if (t.eval_every and step % t.eval_every == 0) or step == steps:
                stop_early = evaluation()
                if stop_early and selection is not None:
                    selection.stopped_early_at = step
                    say(f"step {step}: no better {t.select_by} in {t.patience} evaluations; "
                        f"stopping early (best at step {selection.best_step})")
            if t.save_every and (step % t.save_every == 0 or step == steps or stop_early):
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
            if step >= steps or stop_early:
                break
        else:
            batches_done = batches_per_epoch  # the epoch ran out
    bar.close()

    # --- save --------------------------------------------------------------------------------
    guard.check()
    if accelerator.is_main_process:
        update_run_json(run_dir, {"final_step": step, "validation": {
            "select_by": t.select_by or None, **(selection.state() if selection else {})}})
    accelerator.wait_for_everyone()
    if selection is not None and (run_dir / ckpt.BEST).is_dir():
        final = ckpt.promote_best(run_dir, accelerator)
        say(f"final/ is the best {t.select_by} ({selection.best:.4f}, step "
            f"{selection.best_step})")
    else:
        final = ckpt.save_final(run_dir, accelerator, model, tokenizer)
    if accelerator.is_main_process:
        write_card(final, run_dir, to_dict(cfg), logger.summary())
        if validator is not None and name != REFINE_TERM:
            readings = {}
            for folder, rows in sorted(critic_rows.items()):
                if rows and (run_dir / folder).is_dir():
                    readings[folder] = store_reading(run_dir / folder, validator, rows, t)
            if readings:
                update_run_json(run_dir, {"critic_reading": readings})
                if critic_selection is not None:
                    update_run_json(run_dir, {"critic_validation": critic_selection.state()})
    logger.close()
    say(f"wrote {final}")
    return final


def store_reading(folder: Path, validator: Validator, rows: list[Any], t: Any
                  ) -> dict[str, Any]:
    """Choose the label scoring and fit the temperature on the validation rows of the
    evaluation ``folder`` holds; write ``critic.json`` there and the rows beside it."""
    import json

    from feedback_data.files.io import write_text
    from feedback_data.text.critic_labels import write_reading
    from training.recipe.validation import fit_reading

    gold = [not i.feedback.error_types for i in validator.critic_items]
    reading, info = fit_reading(rows, validator.first_ids, gold, t.critic_scoring,
                                t.fit_temperature)
    write_reading(folder, reading, info)
    write_text(folder / "critic_validation.json", json.dumps(
        {"first_ids": validator.first_ids, "no_error": gold, "real": len(validator.items),
         "tasks": [i.example.task for i in validator.critic_items], "rows": rows}) + "\n")
    if (folder / ckpt.MANIFEST_FILE).is_file():  # checkable: `rhf train verify`
        for rel in ("critic.json", "critic_validation.json"):
            ckpt.update_manifest(folder, rel)
    return {"scoring": reading.scoring, "temperature": reading.temperature, **info}


def update_run_json(run_dir: Path, fields: dict[str, Any]) -> None:
    """Add ``fields`` to the run's run.json (atomically)."""
    import json

    from feedback_data.files.io import write_text

    path = run_dir / "run.json"
    info = json.loads(path.read_text(encoding="utf-8"))
    info.update(fields)
    write_text(path, json.dumps(info, indent=2) + "\n")


def main(objective: str, recipe: Callable[[RecipeConfig], Path],
         argv: list[str] | None = None) -> None:
    """A recipe module's command line: ``--config YAML [overrides]``; errors are one line."""
    import sys

    from training.run.config_load import load_config, split_launch_args

    path, overrides = split_launch_args(sys.argv[1:] if argv is None else argv)
    try:
        recipe(load_config(path, overrides, objective=objective))
    except RunInterrupted as exc:  # the loop has said where it stopped
        sys.exit(exc.exit_code)
    except (ConfigError, ckpt.CheckpointError, NonFiniteError, DiskFull) as exc:
        sys.exit(f"error: {exc}")
