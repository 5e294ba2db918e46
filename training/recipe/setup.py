"""The training loop's setup from what an objective brings (:class:`BoundObjective`), in the
order it runs: the accelerator, the data (feedback -> pairs -> tokens -> batches), the model, the
optimizer, the validator, the scheduler, and the run's description (run.json).

The order is the run's: the data is built before the seed is set, the model after it, and
the scheduler after the validator, so every RNG is drawn from as it always was (the pinned
first losses, tests/training/test_training_pinned_loss.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from feedback_data.records.provenance import git_commit
from feedback_data.records.schema import FeedbackItem
from training.data.batching import (
    EpochBatchSampler,
    batch_terms,
    grouped_batches,
    padding_efficiency,
)
from training.data.build import TrainingData, build_data
from training.data.collate import make_collator
from training.data.examples import MULTITASK_TERMS, REPLAY_TERM, Pair
from training.model.modeling import (
    check_backend,
    load_model,
    load_model_config,
    load_tokenizer,
    make_optimizer,
    total_steps,
    trainable_parameters,
)
from training.recipe.trackers import accelerator_kwargs
from training.recipe.validation import ValidateFn, Validator
from training.run.config import ConfigError, RecipeConfig

PairsFn = Callable[[Sequence[FeedbackItem]], list[Pair]]
PairsFnItems = Callable[[Sequence[FeedbackItem]], list[FeedbackItem]]


@dataclass(frozen=True)
class BoundObjective:
    """An objective's registry entry (training.recipe.objectives) bound to one config: what
    the loop runs."""

    name: str
    train_pairs: PairsFn  # feedback records -> training pairs
    eval_pairs: PairsFn  # feedback records -> held-out pairs
    terms: tuple[str, ...]  # the collator's term order (per-term held-out losses)
    validate: ValidateFn  # the objective's validator (its registry entry's)
    # Filled by train_pairs with what it counted, each under its own key (run.json counts:
    # critic, subquestions, refine_base_chains), if anything.
    counts: dict[str, Any] | None = None
    # Held-out records -> synthetic critic records validated beside them (val/auroc_all).
    val_extra: PairsFnItems | None = None
    validates_answers: bool = True  # the registry entry's flags (training.recipe.objectives)
    reads_critic: bool = True


def check_settings(cfg: RecipeConfig) -> None:
    """The loop's own checks of the config, each one line."""
    t = cfg.train
    if t.max_tokens < 0:
        raise ConfigError("train.max_tokens must be >= 0 (0 = batches of train.batch_size)")
    if t.max_nonfinite_skips < 0:
        raise ConfigError("train.max_nonfinite_skips must be >= 0")
    if t.refine_val_rounds < 0:
        raise ConfigError("train.refine_val_rounds must be >= 0 (0 = off)")
    if t.refine_val_rounds and cfg.objective != "refine":
        raise ConfigError(f"train.refine_val_rounds validates the refine objective; this run "
                          f"trains '{cfg.objective}'")
    if t.weights_dtype == "bfloat16" and t.mixed_precision == "fp16":
        raise ConfigError("train.weights_dtype=bfloat16 does not combine with fp16 autocast")
    if t.select_by and not t.eval_every and t.patience:
        raise ConfigError("train.patience needs train.eval_every > 0 (evaluations to wait)")


def sharded(accelerator: Any) -> bool:
    """FSDP or DeepSpeed: no process holds the whole model."""
    from accelerate.utils import DistributedType

    return accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)


def setup_accelerator(cfg: RecipeConfig) -> Any:
    """The run's accelerator (its trackers too); checks the device backend."""
    from accelerate import Accelerator

    t = cfg.train
    accelerator = Accelerator(
        # Without a GPU a multi-process launch (accelerate launch --multi_gpu, torchrun)
        # trains on CPUs over gloo; accelerate does that only when told cpu=True.
        cpu=not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1,
        mixed_precision=t.mixed_precision,
        **accelerator_kwargs(t.report_to, Path(t.output_dir)))  # a missing tracker: one line, here
    check_backend(accelerator, t)
    return accelerator


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


def term_mix(sampler: EpochBatchSampler, train_set: list[Any], steps: int, group: int
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


@dataclass
class DataSetup:
    """What :func:`setup_data` builds: the records' pairs, their tokens, the batches."""

    data: TrainingData
    tokenizer: Any
    collate: Any  # the collator (its ``terms``: the per-term held-out losses)
    train_set: list[Any]
    eval_set: list[Any]
    group: int  # the micro-batches of one optimizer step, over every process
    shares: dict[str, float]
    sampler: EpochBatchSampler
    loader: DataLoader
    eval_loader: DataLoader | None


def setup_data(cfg: RecipeConfig, objective: BoundObjective, accelerator: Any,
               say: Callable[[str], None]) -> DataSetup:
    """Feedback -> pairs -> tokens -> length-grouped batches (and the held-out batches)."""
    t = cfg.train
    data = build_data(cfg.data, objective.train_pairs, objective.eval_pairs, t.seed, log=say,
                      val_statements=t.val_statements
                      if t.validate and objective.validates_answers else 0)
    data.counts.update(objective.counts or {})  # what the pairs builder counted, by key
    tokenizer = load_tokenizer(cfg.model.name_or_path)
    model_config = load_model_config(cfg.model.name_or_path)
    check_label_words_tokens(cfg, tokenizer, bool(model_config.is_encoder_decoder))
    encode, collate = make_collator(model_config, tokenizer,
                                    objective.terms,
                                    extra_terms=sorted({p.term for p in data.train + data.eval}))
    train_set = encode(data.train, tokenizer, cfg.data.max_source_len, cfg.data.max_target_len)
    eval_set = encode(data.eval, tokenizer, cfg.data.max_source_len, cfg.data.max_target_len)
    group = t.grad_accum * accelerator.num_processes  # the batches of one optimizer step
    try:
        shares = term_shares({e.term for e in train_set}, cfg.data.term_weights,
                             cfg.data.replay_share)
        sampler = EpochBatchSampler(train_set, t.batch_size, t.seed, cfg.data.group_by_length,
                                    t.max_tokens, shares=shares, group=group)
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
    return DataSetup(data, tokenizer, collate, train_set, eval_set, group, shares, sampler,
                     loader, eval_loader)


def check_label_words_tokens(cfg: RecipeConfig, tokenizer: Any, encoder_decoder: bool
                             ) -> None:
    """``data.critic_label_words`` must each be one token in the model's tokenizer: a
    ConfigError naming every word that is not."""
    from feedback_data.text.critic_labels import single_token_problems

    words = cfg.data.critic_label_words
    problems = single_token_problems(tokenizer, words, encoder_decoder) if words else []
    if problems:
        raise ConfigError(f"data.critic_label_words: not single tokens in the tokenizer of "
                          f"{cfg.model.name_or_path}: {'; '.join(problems)}")


def setup_model(cfg: RecipeConfig, accelerator: Any) -> torch.nn.Module:
    """The seeded model, in its weights' dtype (on the device first for master weights)."""
    from accelerate.utils import set_seed

    t = cfg.train
    set_seed(t.seed)
    model = load_model(cfg.model, getattr(torch, t.weights_dtype))
    if t.weights_dtype == "bfloat16" and t.master_weights:
        if sharded(accelerator):
            raise ConfigError("train.master_weights needs the whole model on each process; "
                              "under FSDP/DeepSpeed use weights_dtype=float32 with "
                              "mixed_precision=bf16")
        model.to(accelerator.device)  # the fp32 copies are made on the training device
    return model


def setup_optimizer(cfg: RecipeConfig, model: torch.nn.Module, accelerator: Any,
                    sampler: EpochBatchSampler) -> tuple[torch.optim.Optimizer, int]:
    """The optimizer, and the run's number of optimizer steps (the scheduler's length)."""
    optimizer = make_optimizer(model, cfg.train, accelerator.device)
    return optimizer, total_steps(cfg.train, sampler.epoch_length(0), accelerator.num_processes)


def setup_validator(cfg: RecipeConfig, objective: BoundObjective, data: TrainingData,
                    accelerator: Any) -> Validator | None:
    """The validation questions and held-out records' scorer (None without any); their
    counts join ``data.counts``."""
    t, name = cfg.train, objective.name
    validator = None
    if t.validate and (data.val_examples or data.val_items):
        if sharded(accelerator):
            raise ConfigError("train.validate generates with the whole model, which FSDP and "
                              "DeepSpeed shard; set train.validate=false under them")
        extra = objective.val_extra(data.val_items) if objective.val_extra else []
        validator = Validator(name, data.val_examples, data.val_items,
                              cfg.data.max_source_len, t.val_max_new_tokens,
                              cfg.data.chain_order, extra_items=extra,
                              scoring="sum" if t.critic_scoring == "auto" else t.critic_scoring,
                              label_words=tuple(cfg.data.critic_label_words) or None,
                              run=objective.validate,
                              protocol_rounds=t.refine_val_rounds if name == "refine" else 0)
        data.counts["validation"]["critic_records"] = {
            "real": len(data.val_items), "synthetic": len(extra),
            "no_error": sum(not i.feedback.error_types for i in validator.critic_items)}
    if t.select_by.startswith("val/") and validator is None:
        raise ConfigError(f"train.select_by {t.select_by!r}: there are no validation "
                          "questions (data.eval_fraction is 0 or no records are held out)")
    return validator


def describe_run(cfg: RecipeConfig, name: str, accelerator: Any, setup: DataSetup,
                 model: torch.nn.Module, steps: int, world: dict[str, Any]) -> dict[str, Any]:
    """run.json's first contents: what the run trains, on what, in which world."""
    trainable, total = trainable_parameters(model)
    sampler, train_set = setup.sampler, setup.train_set
    return {
        "objective": name, "model": cfg.model.name_or_path, "seed": cfg.train.seed,
        "git_commit": git_commit(), "started": datetime.now(UTC).isoformat(),
        "counts": setup.data.counts, "total_steps": steps,
        "num_processes": accelerator.num_processes,
        "distributed_type": str(accelerator.distributed_type.value),
        "mixed_precision": str(accelerator.mixed_precision),
        "parameters": {"trainable": trainable, "total": total},
        "padding_efficiency": round(padding_efficiency(train_set, sampler.batches(0)), 4),
        "term_shares": setup.shares,
        "term_mix": term_mix(sampler, train_set, steps, setup.group),
        "validation_questions": [e.id for e in setup.data.val_examples],
        "world": world,
    }
