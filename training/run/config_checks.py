"""Checks of a :class:`~training.run.config.RecipeConfig` across its fields (which changes a
resumed run may make is :mod:`training.run.run_folder`'s)."""

from __future__ import annotations

from typing import Any

from training.run.config import ConfigError, RecipeConfig

# (key, test, what the value must be): each a one-line ConfigError when the test fails.
_RANGES: tuple[tuple[str, Any, str], ...] = (
    ("train.lr", lambda v: v > 0, "> 0"),
    ("train.seed", lambda v: 0 <= v < 2**32, "in [0, 2**32)"),
    ("train.epochs", lambda v: v >= 0, ">= 0"),
    ("train.max_steps", lambda v: v >= 0, ">= 0 (0 = derived from epochs)"),
    ("train.weight_decay", lambda v: v >= 0, ">= 0"),
    ("train.adam_beta1", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("train.adam_beta2", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("train.adam_eps", lambda v: v > 0, "> 0"),
    ("train.warmup_steps", lambda v: v >= 0, ">= 0"),
    ("train.warmup_ratio", lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("train.max_grad_norm", lambda v: v >= 0, ">= 0 (0 = no clipping)"),
    ("train.log_every", lambda v: v >= 1, ">= 1"),
    ("train.eval_every", lambda v: v >= 0, ">= 0 (0 = at the end only)"),
    ("train.save_every", lambda v: v >= 0, ">= 0 (0 = only the final folder)"),
    ("train.keep_checkpoints", lambda v: v >= 0, ">= 0 (0 = keep all)"),
    ("train.step_sleep", lambda v: v >= 0, ">= 0"),
    ("model.lora_alpha", lambda v: v > 0, "> 0"),
    ("model.lora_dropout", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("data.max_records", lambda v: v >= 0, ">= 0 (0 = all)"),
    ("data.eval_max", lambda v: v >= 0, ">= 0"),
    ("data.max_source_len", lambda v: v >= 1, ">= 1"),
    ("data.max_target_len", lambda v: v >= 1, ">= 1"),
    ("data.replay_pairs", lambda v: v >= 0, ">= 0"),
    ("data.replay_share", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("train.patience", lambda v: v >= 0, ">= 0 (0 = never stop early)"),
    ("train.val_max_new_tokens", lambda v: v >= 1, ">= 1"),
    ("train.val_statements", lambda v: v >= 0, ">= 0"),
)


def _value(cfg: RecipeConfig, dotted: str) -> Any:
    group, _, name = dotted.partition(".")
    return getattr(getattr(cfg, group), name)


def validate(cfg: RecipeConfig) -> None:
    """Checks across fields, each failing with one line."""
    from training.recipe.objectives import OBJECTIVE_REGISTRY

    if cfg.objective not in OBJECTIVE_REGISTRY:
        raise ConfigError(f"objective: {cfg.objective!r} is not one of "
                          f"{list(OBJECTIVE_REGISTRY.names())} (the objective registry)")
    for key, ok, what in _RANGES:
        if not ok(_value(cfg, key)):
            raise ConfigError(f"{key} must be {what}, got {_value(cfg, key)!r}")
    t, d = cfg.train, cfg.data
    if t.batch_size < 1 or t.grad_accum < 1:
        raise ConfigError("train.batch_size and train.grad_accum must be >= 1")
    if not 0.0 <= d.eval_fraction < 1.0:
        raise ConfigError("data.eval_fraction must be in [0, 1)")
    if t.epochs <= 0 and t.max_steps <= 0:
        raise ConfigError("set train.epochs > 0 or train.max_steps > 0")
    if cfg.model.lora_r < 0:
        raise ConfigError("model.lora_r must be >= 0 (0 = full fine-tuning)")
    from training.data.examples import check_weights

    try:
        check_weights(d.term_weights)
    except ValueError as exc:
        raise ConfigError(f"data.term_weights: {exc}") from None
    from training.data.examples import check_augment

    try:
        check_augment(d.critic_augment)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if d.critic_label_words:
        from feedback_data.text.critic_labels import check_label_words

        try:
            check_label_words(d.critic_label_words)
        except ValueError as exc:
            raise ConfigError(f"data.critic_label_words: {exc}") from None
    if t.select_critic_by and not t.select_critic_by.startswith("val/"):
        raise ConfigError(f"train.select_critic_by {t.select_critic_by!r}: expected a "
                          "validation metric (val/auroc, val/auroc_all, ...)")
    if d.replay_share > 0 and not d.replay:
        raise ConfigError("data.replay_share > 0 needs data.replay ('base' or a pairs file)")
    if d.replay and d.replay_share == 0:
        raise ConfigError(f"data.replay is {d.replay!r} but data.replay_share is 0: set the "
                          "share of steps the replay pairs get")
    if t.patience and not t.select_by:
        raise ConfigError("train.patience needs train.select_by (the metric it waits on)")
    if t.select_by and not (t.select_by.startswith(("val/", "eval/"))):
        raise ConfigError(f"train.select_by {t.select_by!r}: expected a validation metric "
                          "(val/accuracy, val/auroc, val/score, eval/loss, ...)")
    if t.select_by.startswith("val/") and not t.validate:
        raise ConfigError(f"train.select_by {t.select_by!r} needs train.validate=true")
    if d.refine_base_chains and cfg.objective != "refine":
        raise ConfigError("data.refine_base_chains applies to the refine objective only, "
                          f"not {cfg.objective!r}")



def require_run_fields(cfg: RecipeConfig) -> None:
    if not cfg.model.name_or_path:
        raise ConfigError("no model given: pass --model PATH_OR_HUB_ID (model.name_or_path)")
    if not cfg.train.output_dir:
        raise ConfigError("no output folder given: pass --out RUN_DIR (train.output_dir)")
