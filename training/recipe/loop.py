"""The training loop every objective shares, read top to bottom in :func:`_train`: set up
(:mod:`training.recipe.setup`: data, model, optimizer, validator, scheduler), start (the run
folder, resume, logs), the steps (:class:`RecipeRun`: train step, evaluate, save), the end
(:mod:`training.recipe.final`).

An objective's registry entry bound to one config (:class:`BoundObjective`,
:mod:`training.recipe.setup`, made by :mod:`training.recipe.run_objective`) brings its name,
how feedback records become pairs, and the terms its collator indexes. Everything else
(batches by token budget, precision, the numerics guard, checkpoints, resume, logging) lives
here once.

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

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from feedback_data.files.disk_full import DiskFull
from training.model.modeling import make_scheduler
from training.recipe.evaluate import evaluate
from training.recipe.final import save_final, write_readings
from training.recipe.loss import step_tokens, token_loss_sum
from training.recipe.numerics_guard import NonFiniteError, NumericsGuard
from training.recipe.setup import (
    BoundObjective,
    DataSetup,
    check_settings,
    describe_run,
    setup_accelerator,
    setup_data,
    setup_model,
    setup_optimizer,
    setup_validator,
)
from training.recipe.step_window import Window
from training.recipe.trackers import start_training_run
from training.recipe.validation import Selection, Validator
from training.run import checkpoint as ckpt
from training.run.config import ConfigError, RecipeConfig, to_dict, to_yaml
from training.run.config_checks import require_run_fields
from training.run.metrics_log import MetricsLogger
from training.run.run_folder import guard_run, prepare_run_dir
from training.run.stop_signals import RunInterrupted, StopSignals
from training.run.world import run_world

# The multitask run's critic chosen apart from its answerer (train.select_critic_by).
CRITIC_DIR = "critic"


def train(cfg: RecipeConfig, objective: BoundObjective) -> Path:
    """Run ``objective`` as configured; returns the ``final/`` folder.

    The run holds its folder throughout (:func:`training.run.run_folder.guard_run`: one writer,
    a full disk said in one line); the first Ctrl-C or SIGTERM ends it after the current
    step with a checkpoint (:mod:`training.run.stop_signals`)."""
    require_run_fields(cfg)
    with guard_run(Path(cfg.train.output_dir)) as stop:
        return _train(cfg, objective, stop)


def _train(cfg: RecipeConfig, objective: BoundObjective, stop: StopSignals) -> Path:
    """The recipe: set up, prepare the run folder, resume, run the steps, save."""
    check_settings(cfg)
    if cfg.objective != objective.name:
        raise ConfigError(f"this is the {objective.name} recipe; the config asks for "
                          f"'{cfg.objective}'")
    accelerator = setup_accelerator(cfg)
    setup = setup_data(cfg, objective, accelerator, accelerator.print)
    model = setup_model(cfg, accelerator)
    optimizer, steps = setup_optimizer(cfg, model, accelerator, setup.sampler)
    validator = setup_validator(cfg, objective, setup.data, accelerator)
    scheduler = make_scheduler(optimizer, cfg.train, steps)
    run = RecipeRun.start(cfg, objective.name, accelerator, setup, model, optimizer,
                          scheduler, validator, steps, reads_critic=objective.reads_critic)
    run.train(stop)
    return run.finish()


@dataclass
class RecipeRun:
    """A run once set up: its parts on the device, where it stands, and its steps."""

    cfg: RecipeConfig
    name: str
    accelerator: Any
    setup: DataSetup
    model: Any
    optimizer: Any
    scheduler: Any
    loader: Any
    eval_loader: Any
    validator: Validator | None
    steps: int
    signature: dict[str, Any]
    world: dict[str, Any]
    step: int = 0
    epoch: int = 0
    batches_done: int = 0
    seen: int = 0
    selection: Selection | None = None
    critic_selection: Selection | None = None
    reads_critic: bool = True  # the objective's model reads error types (a critic reading)
    # The validation rows of the evaluation final/ (and critic/) hold: the reading is fitted
    # on them at the end.
    critic_rows: dict[str, list[Any]] = field(default_factory=dict)
    logger: MetricsLogger = field(init=False)
    guard: NumericsGuard = field(init=False)

    @property
    def run_dir(self) -> Path:
        return Path(self.cfg.train.output_dir)

    def say(self, message: str) -> None:
        self.accelerator.print(message)

    @classmethod
    def start(cls, cfg: RecipeConfig, name: str, accelerator: Any, setup: DataSetup,
              model: Any, optimizer: Any, scheduler: Any, validator: Validator | None,
              steps: int, reads_critic: bool = True) -> RecipeRun:
        """Check and write the run folder (run.json), put the parts on the device, resume
        from the folder's checkpoint if asked, and start the logs and trackers."""
        t, run_dir = cfg.train, Path(cfg.train.output_dir)
        signature = ckpt.model_signature(model)
        world = run_world(accelerator.num_processes, t.batch_size, t.grad_accum,
                          str(accelerator.mixed_precision), accelerator.device.type)
        run_info = describe_run(cfg, name, accelerator, setup, model, steps, world)
        resume_from = prepare_run_dir(run_dir, t.resume, to_yaml(cfg), run_info,
                                      accelerator.is_main_process)
        accelerator.wait_for_everyone()
        parameters, counts = run_info["parameters"], setup.data.counts
        accelerator.print(
            f"{name}: {counts['pairs_train']} training pairs {counts['pairs_train_by_term']}, "
            f"{len(setup.eval_set)} held out; {parameters['trainable']:,} of "
            f"{parameters['total']:,} parameters trained; {steps} steps")
        if t.compile:  # in place: state_dict keys and unwrap_model stay as they are
            model.compile(dynamic=True)
        model, optimizer, loader = accelerator.prepare(model, optimizer, setup.loader)
        eval_loader = setup.eval_loader
        if eval_loader is not None:
            eval_loader = accelerator.prepare(eval_loader)
        run = cls(cfg, name, accelerator, setup, model, optimizer, scheduler, loader,
                  eval_loader, validator, steps, signature, world,
                  selection=Selection(t.select_by, t.patience) if t.select_by else None,
                  critic_selection=Selection(t.select_critic_by)
                  if t.select_critic_by and reads_critic else None, reads_critic=reads_critic)
        if validator is not None:  # before a resume restores trained weights: the base's
            validator.before_training(model, setup.tokenizer, accelerator)
        if resume_from is not None:
            run.resume(resume_from)
        run.logger = MetricsLogger(run_dir, accelerator,
                                   resume_step=run.step if resume_from else None,
                                   jsonl="jsonl" in t.report_to)
        start_training_run(accelerator, to_dict(cfg), run_info, run_dir, t.tracker_project,
                           resume=resume_from is not None)
        run.guard = NumericsGuard(accelerator, run.optimizer, run.logger,
                                  t.max_nonfinite_skips,
                                  check_grad_norm=t.mixed_precision != "fp16", log=run.say)
        return run

    def resume(self, checkpoint: Path) -> None:
        """Restore the weights, optimizer, scheduler, RNG and position of ``checkpoint``."""
        t = self.cfg.train
        state = ckpt.load_checkpoint(checkpoint, self.accelerator, self.model, self.optimizer,
                                     self.scheduler, self.name, self.signature)
        self.step, self.epoch, self.batches_done, self.seen = (
            state["step"], state["epoch"], state["batches_done"], state["samples_seen"])
        if self.selection is not None:
            self.selection = Selection.from_state(state.get("selection") or {}, t.select_by,
                                                  t.patience)
        self.say(f"resumed from {checkpoint} (step {self.step})")

    # --- the steps -------------------------------------------------------------------------

    def train(self, stop: StopSignals) -> None:
        """Optimizer steps until ``steps`` (or an early stop), epoch after epoch; a stop
        signal saves a checkpoint and raises :class:`RunInterrupted`."""
        t, accelerator, sampler = self.cfg.train, self.accelerator, self.setup.sampler
        train_set = self.setup.train_set
        bar = tqdm(total=self.steps, initial=self.step, desc=self.name, dynamic_ncols=True,
                   disable=not (accelerator.is_main_process and t.progress_bar))
        window = Window(accelerator.device, decoder_only=any(e.decoder_only for e in train_set))
        encoder_decoder = not any(e.decoder_only for e in train_set)
        stop_early = False
        self.model.train()
        while self.step < self.steps and not stop_early:
            if self.batches_done >= sampler.epoch_length(self.epoch):
                self.epoch, self.batches_done = self.epoch + 1, 0
            sampler.set_position(self.epoch, skip=self.batches_done)
            batches_per_epoch = sampler.epoch_length(self.epoch)
            group: list[dict[str, torch.Tensor]] = []
            for batch in self.loader:
                group.append(batch)
                self.batches_done += accelerator.num_processes
                if len(group) < t.grad_accum and self.batches_done < batches_per_epoch:
                    continue
                grad_norm = self.train_step(group, window, encoder_decoder)
                group = []
                bar.update(1)
                stop_early = self.after_step(window, grad_norm, bar, stop)
                if self.step >= self.steps or stop_early:
                    break
            else:
                self.batches_done = batches_per_epoch  # the epoch ran out
        bar.close()

    def train_step(self, group: list[dict[str, torch.Tensor]], window: Window,
                   encoder_decoder: bool) -> torch.Tensor:
        """One optimizer step over the group of micro-batches (gradient accumulation):
        summed token losses over the step's target tokens on every process. Returns the
        gradient norm."""
        accelerator, t, model = self.accelerator, self.cfg.train, self.model
        tokens = step_tokens(group, encoder_decoder, accelerator)
        scale = accelerator.num_processes / tokens  # DDP averages over the processes
        step_loss = torch.zeros((), device=accelerator.device)
        for i, batch in enumerate(group):
            micro = {k: v for k, v in batch.items() if k not in ("term", "weight")}
            sync = i == len(group) - 1
            with accelerator.no_sync(model) if not sync else nullcontext():
                loss_sum = token_loss_sum(model(**micro).logits, micro["labels"],
                                          encoder_decoder, batch.get("weight"))
                accelerator.backward(loss_sum * scale)
            step_loss += loss_sum.detach().double() * scale
            window.add(loss_sum, batch, encoder_decoder)
        # With clipping off, max_norm=inf still returns the norm the guard needs.
        max_norm = t.max_grad_norm if t.max_grad_norm > 0 else float("inf")
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), max_norm)
        if self.guard.step_ok(self.step + 1, step_loss, grad_norm):
            self.optimizer.step()
        if not accelerator.optimizer_step_was_skipped:  # fp16's loss scaler may skip
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.seen += sum(m["input_ids"].shape[0] for m in group) * accelerator.num_processes
        return grad_norm

    def after_step(self, window: Window, grad_norm: torch.Tensor, bar: Any,
                   stop: StopSignals) -> bool:
        """Log, evaluate and save as configured after a step, and stop on a signal;
        True when the run stops early (patience ran out)."""
        t, step, steps = self.cfg.train, self.step, self.steps
        if step % t.log_every == 0 or step == steps:
            metrics = window.read(self.accelerator)
            metrics["train/lr"] = self.scheduler.get_last_lr()[0]
            metrics["train/epoch"] = self.epoch
            if t.max_grad_norm > 0:
                metrics["train/grad_norm"] = float(grad_norm)
            self.logger.log(metrics, step)
            self.guard.check()
            bar.set_postfix(loss=f"{metrics['train/loss']:.3f}")
        stop_early = False
        if (t.eval_every and step % t.eval_every == 0) or step == steps:
            stop_early = self.evaluate()
            if stop_early and self.selection is not None:
                self.selection.stopped_early_at = step
                self.say(f"step {step}: no better {t.select_by} in {t.patience} evaluations; "
                         f"stopping early (best at step {self.selection.best_step})")
        if t.save_every and (step % t.save_every == 0 or step == steps or stop_early):
            self.save()
        if t.step_sleep:
            time.sleep(t.step_sleep)
        if step < steps and stop.requested(self.accelerator):  # Ctrl-C / SIGTERM: save, stop
            if not (t.save_every and step % t.save_every == 0):
                self.save()
            bar.close()
            self.logger.close()
            raise stop.interrupted(step, (ckpt.list_checkpoints(self.run_dir) or [None])[-1],
                                   self.accelerator.num_processes, self.say)
        return stop_early

    def evaluate(self) -> bool:
        """Held-out loss and validation metrics, logged; the best model saved. True when
        patience has run out."""
        accelerator, model, tokenizer = self.accelerator, self.model, self.setup.tokenizer
        t, step, run_dir, validator = self.cfg.train, self.step, self.run_dir, self.validator
        metrics = evaluate(model, self.eval_loader, accelerator, self.setup.collate.terms) \
            if self.eval_loader is not None else {}
        if validator is not None:
            metrics.update(validator(model, tokenizer, accelerator))
        if not metrics:
            return False
        self.logger.log(metrics, step)
        rows = validator.last_rows if validator is not None else []
        critic = self.critic_selection
        if critic is not None and critic.update(metrics, step):
            ckpt.save_final(run_dir, accelerator, model, tokenizer, name=CRITIC_DIR)
            self.critic_rows[CRITIC_DIR] = rows
            self.say(f"step {step}: best critic {t.select_critic_by} {critic.best:.4f} so far")
        if self.selection is None:
            self.critic_rows["final"] = rows
            return False
        if self.selection.update(metrics, step):
            ckpt.save_final(run_dir, accelerator, model, tokenizer, name=ckpt.BEST)
            self.critic_rows["final"] = rows
            self.say(f"step {step}: best {t.select_by} {self.selection.best:.4f} so far")
        return self.selection.should_stop()

    def save(self) -> None:
        """A checkpoint of this step (never past a step the numerics guard has not
        cleared)."""
        self.guard.check()
        selection = self.selection
        ckpt.save_checkpoint(
            self.run_dir, self.accelerator, self.model, self.setup.tokenizer, self.optimizer,
            self.scheduler,
            {"step": self.step, "epoch": self.epoch, "batches_done": self.batches_done,
             "samples_seen": self.seen, "objective": self.name, "signature": self.signature,
             "total_steps": self.steps, "world": self.world,
             "selection": selection.state() if selection else None},
            self.cfg.train.keep_checkpoints)

    # --- the end ---------------------------------------------------------------------------

    def finish(self) -> Path:
        """``final/``, its model card and the critic's readings; returns ``final/``."""
        self.guard.check()
        final = save_final(self.cfg, self.run_dir, self.accelerator, self.model,
                           self.setup.tokenizer, self.step, self.selection)
        if self.accelerator.is_main_process:
            write_readings(self.cfg, self.reads_critic, self.run_dir, final,
                           self.logger.summary(),
                           self.validator, self.critic_rows, self.critic_selection)
        self.logger.close()
        self.say(f"wrote {final}")
        return final


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
