"""The recipe configuration: typed dataclasses with help text, YAML plus overrides.

A YAML file has the groups ``model``, ``data`` and ``train`` (and ``objective``). Overrides
come as ``key=value`` or ``--key value``; a key is either dotted (``train.lr``) or a field
name that is unique across groups (``lr``, ``lora_r``, ``max-steps``). A yes/no field given
as a bare ``--key`` (``--resume``) is true and never takes the next argument as its value.
Values are read as YAML, except those of text fields (paths, model ids), which are taken
as written: ``--out "exp #2"`` is the folder ``exp #2`` and ``--out 010`` the folder ``010``.
An unknown key, a value of the wrong type, a misspelt choice or a value out of its range is
a one-line :class:`ConfigError`.

Resuming a run compares the run-defining keys with the checkpoint's config (see
:data:`CHANGEABLE_ON_RESUME` for the keys that may change freely).
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from feedback_data.schema import TASKS

OBJECTIVES = ("multitask", "refine")


class ConfigError(ValueError):
    """A user mistake in a config file or an override."""


def _f(default: Any = dataclasses.MISSING, help: str = "", factory: Any = None) -> Any:
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class ModelConfig:
    name_or_path: str = _f("", "Model to fine-tune: a local folder or a Hugging Face hub id "
                               "(e.g. google/flan-t5-large).")
    lora_r: int = _f(0, "LoRA rank; 0 means full fine-tuning of every weight.")
    lora_alpha: int = _f(32, "LoRA scaling numerator (the update is scaled by alpha / r).")
    lora_dropout: float = _f(0.05, "Dropout on the LoRA branch.")
    lora_target_modules: list[str] = _f(help="Module names LoRA wraps (T5: q, k, v, o, wi_0, "
                                             "wi_1, wo).", factory=lambda: ["q", "v"])
    gradient_checkpointing: bool = _f(False, "Recompute activations in the backward pass "
                                             "(less memory, ~30% slower).")


@dataclass
class DataConfig:
    tasks: list[str] = _f(help="Tasks whose imported paper feedback is used; [] for none.",
                          factory=lambda: list(TASKS))
    split: str = _f("train", "Split of the paper feedback to train on.")
    extra_feedback: list[str] = _f(help="Extra FeedbackItem JSONL files (e.g. simulated or "
                                        "Label Studio annotations).", factory=list)
    pairs_file: str | None = _f(None, "JSONL of {source, target, term} pairs used as they are "
                                      "(e.g. to pre-train on gold chains).")
    max_records: int = _f(0, "Use only the first N feedback records (0 = all); for smoke runs.")
    term_weights: dict[str, float] = _f(
        help="Multitask mixture weights per term (answer, error_types, description); each "
             "term's share of the pairs is its weight over their sum.",
        factory=lambda: {"answer": 1.0, "error_types": 1.0, "description": 1.0})
    eval_fraction: float = _f(0.05, "Share of records held out for evaluation.")
    eval_max: int = _f(256, "At most this many held-out pairs are evaluated.")
    max_source_len: int = _f(256, "Encoder tokens kept per example (longer ones are cut).")
    max_target_len: int = _f(128, "Decoder tokens kept per example (longer ones are cut).")
    group_by_length: bool = _f(True, "Batch pairs of the same term and similar lengths "
                                     "together (less padding); off = random batches.")


@dataclass
class TrainConfig:
    output_dir: str = _f("", "Run folder: config, run.json, metrics.jsonl, checkpoints, final.")
    seed: int = _f(42, "Seed for weights' random parts, data order and dropout.")
    epochs: float = _f(1.0, "Passes over the training pairs (ignored when max_steps > 0).")
    max_steps: int = _f(0, "Optimizer steps to run; 0 = derived from epochs.")
    batch_size: int = _f(16, "Pairs per device per forward pass.")
    grad_accum: int = _f(1, "Forward passes summed per optimizer step.")
    lr: float = _f(1e-3, "Peak learning rate of AdamW (1e-3 suits the tiny T5; use 1e-4 to "
                             "3e-4 for Flan-T5 full fine-tuning).")
    weight_decay: float = _f(0.0, "AdamW weight decay (not applied to biases and norms).")
    adam_beta1: float = _f(0.9, "AdamW beta1.")
    adam_beta2: float = _f(0.999, "AdamW beta2.")
    adam_eps: float = _f(1e-8, "AdamW epsilon.")
    warmup_steps: int = _f(0, "Linear warm-up steps; 0 = warmup_ratio of the total.")
    warmup_ratio: float = _f(0.05, "Warm-up as a share of the total steps.")
    scheduler: Literal["linear", "cosine", "constant"] = _f(
        "linear", "Learning-rate schedule after warm-up.")
    max_grad_norm: float = _f(1.0, "Clip the gradient's global norm to this; 0 = no clipping.")
    mixed_precision: Literal["no", "bf16", "fp16"] = _f(
        "no", "Autocast precision (bf16 on Ampere+ GPUs, fp16 on older ones).")
    eval_every: int = _f(200, "Evaluate on the held-out slice every N steps (0 = at the end "
                              "only).")
    save_every: int = _f(100, "Write a checkpoint every N steps (0 = only the final folder).")
    keep_checkpoints: int = _f(2, "Newest checkpoints kept; older ones are deleted.")
    log_every: int = _f(10, "Write training metrics every N steps.")
    tensorboard: bool = _f(True, "Also log to TensorBoard (through accelerate) if installed.")
    progress_bar: bool = _f(True, "Show a progress bar on the main process.")
    allow_config_change: bool = _f(False, "On resume, accept run-defining keys that differ "
                                          "from the checkpoint's config (recorded in run.json).")
    resume: bool = _f(False, "Continue from the newest checkpoint in output_dir.")
    step_sleep: float = _f(0.0, "Seconds to sleep after each step (tests of kill -9 only).")
    # --- speed and numerics (training/loop.py) ---------------------------------------------
    max_tokens: int = _f(0, "Token budget per micro-batch: padded source + target tokens "
                            "(rows x (longest source + longest target)); the number of pairs "
                            "per batch follows from their lengths. 0 = batch_size pairs.")
    max_nonfinite_skips: int = _f(0, "Optimizer steps with a non-finite loss or gradient norm "
                                     "that may be skipped (each logged) before the run stops; "
                                     "0 = the first one stops it.")
    weights_dtype: Literal["float32", "bfloat16"] = _f(
        "float32", "Dtype of the weights, gradients and AdamW state. bfloat16 halves memory "
                   "and runs matmuls in bf16 without autocast (GPU speed); float32 with "
                   "mixed_precision=bf16 is the safer mixed setting.")
    master_weights: bool = _f(True, "With weights_dtype=bfloat16: AdamW updates fp32 copies "
                                    "of the weights (fp32 state too) and rounds them into the "
                                    "bf16 weights; false = pure bf16 (half the memory, loses "
                                    "small updates: 16% higher loss on the tiny T5).")
    compile: bool = _f(False, "torch.compile the model (dynamic shapes); pays off on GPUs "
                              "for long runs, costs minutes of compiling at the start.")


@dataclass
class RecipeConfig:
    objective: Literal["multitask", "refine"] = _f("multitask", "Training objective.")
    model: ModelConfig = _f(help="The model and how it is adapted.", factory=ModelConfig)
    data: DataConfig = _f(help="Where the pairs come from and how they are batched.",
                          factory=DataConfig)
    train: TrainConfig = _f(help="Optimisation, logging and checkpointing.",
                            factory=TrainConfig)


# Short names for the three things every launch gives.
ALIASES = {"model": "model.name_or_path", "out": "train.output_dir",
           "output_dir": "train.output_dir"}
GROUPS = ("model", "data", "train")

# Keys a resumed run may change without --allow-config-change: they decide how often the
# run logs, evaluates and saves, how it shows progress and where it lives, never what it
# computes. Every other key (present or added later) is run-defining: a resume that changes
# one is refused unless train.allow_config_change is set, and the change lands in run.json.
CHANGEABLE_ON_RESUME = frozenset({
    "train.output_dir", "train.resume", "train.allow_config_change", "train.log_every",
    "train.eval_every", "train.save_every", "train.keep_checkpoints", "train.tensorboard",
    "train.progress_bar", "train.step_sleep", "model.gradient_checkpointing",
})


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _leaf_index() -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for group in GROUPS:
        for f in dataclasses.fields(_hints(RecipeConfig)[group]):
            index.setdefault(f.name, []).append(f"{group}.{f.name}")
    for f in dataclasses.fields(RecipeConfig):
        if f.name not in GROUPS:
            index.setdefault(f.name, []).append(f.name)
    return index


def resolve_key(key: str) -> str:
    """'lr' -> 'train.lr', 'lora-r' -> 'model.lora_r', 'train.lr' -> 'train.lr'."""
    key = key.lstrip("-").replace("-", "_")
    if key in ALIASES:
        return ALIASES[key]
    if "." in key:
        group, _, name = key.partition(".")
        if group in GROUPS and name in {f.name for f in dataclasses.fields(
                _hints(RecipeConfig)[group])}:
            return key
        raise ConfigError(f"unknown config key '{key}' (see `rhf train --help-config`)")
    paths = _leaf_index().get(key)
    if not paths:
        raise ConfigError(f"unknown config key '{key}' (see `rhf train --help-config`)")
    if len(paths) > 1:
        raise ConfigError(f"ambiguous config key '{key}': use one of {paths}")
    return paths[0]


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the type hint ``tp`` (ints become floats where floats go)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0])
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {list(args)}")
        return value
    if origin is list:
        if isinstance(value, str):  # one item given on the command line
            value = [value] if value else []
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, args[0], key) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {_coerce(k, args[0], key): _coerce(v, args[1], key) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML reads "1e-4" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return number
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is str:
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if not isinstance(value, str):
            # YAML turns `out: 010` into 8 and `name: yes` into True: never guess the text.
            raise ConfigError(f"{key}: expected text, got {value!r} (quote it in YAML)")
        return value
    raise ConfigError(f"{key}: unsupported type {tp}")


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {raw!r}")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        where = f" in '{prefix}'" if prefix else ""
        raise ConfigError(f"unknown config key(s) {unknown}{where}; known: {sorted(names)}")
    kwargs = {}
    for name, value in raw.items():
        key = f"{prefix}.{name}" if prefix else name
        if dataclasses.is_dataclass(hints[name]):
            kwargs[name] = _build(hints[name], value, key)
        else:
            kwargs[name] = _coerce(value, hints[name], key)
    return cls(**kwargs)


def _set(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *groups, leaf = dotted.split(".")
    node = raw
    for g in groups:
        if node.get(g) is None:
            node[g] = {}
        if not isinstance(node[g], dict):
            raise ConfigError(f"{dotted}: '{g}' is not a mapping in the config file")
        node = node[g]
    node[leaf] = value


def _field_type(dotted: str) -> Any:
    """The type hint of a resolved key ('train.lr' -> float, 'objective' -> Literal)."""
    hints = _hints(RecipeConfig)
    if "." not in dotted:
        return hints[dotted]
    group, _, name = dotted.partition(".")
    return _hints(hints[group])[name]


def _is_text(tp: Any) -> bool:
    """str or str | None: a path, a model id or a name, never parsed as YAML."""
    return tp is str or (typing.get_origin(tp) in (typing.Union, types.UnionType)
                         and set(typing.get_args(tp)) == {str, type(None)})


def _override_value(dotted: str, text: str) -> Any:
    tp = _field_type(dotted)
    if _is_text(tp):
        if tp is not str and text in ("", "null"):
            return None
        return text
    if text == "":
        return ""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """['lr=1e-4', '--max-steps', '5', '--resume'] -> {'train.lr': 1e-4, ...}.

    ``--key value`` takes the next argument as the value, except for yes/no fields: a bare
    ``--resume`` is true wherever it stands (``--resume=false`` turns it off).
    """
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            body = arg[2:]
            if "=" in body:
                key, _, text = body.partition("=")
                dotted = resolve_key(key)
            else:
                dotted = resolve_key(body)
                if _field_type(dotted) is bool:
                    text = "true"
                elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                    text = args[i + 1]
                    i += 1
                else:
                    raise ConfigError(f"--{body} needs a value")
        elif "=" in arg:
            key, _, text = arg.partition("=")
            dotted = resolve_key(key)
        else:
            raise ConfigError(f"cannot read override '{arg}': use key=value or --key value")
        out[dotted] = _override_value(dotted, text)
        i += 1
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | dict[str, Any] | None = None,
                objective: str | None = None) -> RecipeConfig:
    """Build a :class:`RecipeConfig` from an optional YAML file, then overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML ({exc})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        raw = loaded or {}
    if objective is not None:
        raw["objective"] = objective
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    for key, value in (overrides or {}).items():
        _set(raw, resolve_key(key), value)
    cfg = _build(RecipeConfig, raw, "")
    validate(cfg)
    return cfg


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
)


def _value(cfg: RecipeConfig, dotted: str) -> Any:
    group, _, name = dotted.partition(".")
    return getattr(getattr(cfg, group), name)


def validate(cfg: RecipeConfig) -> None:
    """Checks across fields, each failing with one line."""
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
    from training.examples import term_counts

    try:
        term_counts(1, d.term_weights)
    except ValueError as exc:
        raise ConfigError(f"data.term_weights: {exc}") from None


def split_launch_args(argv: list[str]) -> tuple[str | None, list[str]]:
    """['--config', 'a.yaml', 'lr=1e-4'] -> ('a.yaml', ['lr=1e-4'])."""
    path, rest, i = None, [], 0
    while i < len(argv):
        if argv[i] == "--config" and i + 1 < len(argv):
            path, i = argv[i + 1], i + 2
        elif argv[i].startswith("--config="):
            path, i = argv[i].partition("=")[2], i + 1
        else:
            rest.append(argv[i])
            i += 1
    return path, rest


def require_run_fields(cfg: RecipeConfig) -> None:
    if not cfg.model.name_or_path:
        raise ConfigError("no model given: pass --model PATH_OR_HUB_ID (model.name_or_path)")
    if not cfg.train.output_dir:
        raise ConfigError("no output folder given: pass --out RUN_DIR (train.output_dir)")


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and k in GROUPS and not prefix:
            out.update(_flatten(v, f"{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Keys whose values differ between two configs (as in config.yaml), with (old, new).

    A key missing from the old config (a field added since) counts as its default; a key
    this version no longer knows is left out, and so are the launch modes (resume,
    allow_config_change), which say how this launch treats the run, not what it computes.
    """
    defaults = _flatten(to_dict(RecipeConfig()))
    before, after = _flatten(old or {}), _flatten(new)
    changes = {}
    for key in defaults:
        if key in ("train.resume", "train.allow_config_change"):
            continue
        a, b = before.get(key, defaults[key]), after.get(key, defaults[key])
        if a != b:
            changes[key] = (a, b)
    return changes


def run_defining(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes that alter what a run computes (all but CHANGEABLE_ON_RESUME)."""
    return {k: v for k, v in changes.items() if k not in CHANGEABLE_ON_RESUME}


def to_dict(cfg: RecipeConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def to_yaml(cfg: RecipeConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def describe() -> str:
    """Every field with its type, default and help text (for --help-config)."""
    lines = []
    for f in dataclasses.fields(RecipeConfig):
        hint = _hints(RecipeConfig)[f.name]
        if dataclasses.is_dataclass(hint):
            lines.append(f"{f.name}:  # {f.metadata['help']}")
            sub_hints = _hints(hint)
            default = hint()
            for g in dataclasses.fields(hint):
                tp = getattr(sub_hints[g.name], "__name__", str(sub_hints[g.name]))
                val = getattr(default, g.name)
                lines.append(f"  {g.name}: {val!r}  # ({tp}) {g.metadata['help']}")
        else:
            lines.append(f"{f.name}: {f.default!r}  # {f.metadata['help']}")
    return "\n".join(lines)
