"""Reading a :class:`~training.run.config.RecipeConfig`: a YAML file, then overrides.

Overrides come as ``key=value`` or ``--key value``; a key is either dotted (``train.lr``) or
a field name that is unique across groups (``lr``, ``lora_r``, ``max-steps``). A yes/no
field given as a bare ``--key`` (``--resume``) is true and never takes the next argument as
its value. Values are read as YAML, except those of text fields (paths, model ids), which
are taken as written: ``--out "exp #2"`` is the folder ``exp #2`` and ``--out 010`` the
folder ``010``. An unknown key, a value of the wrong type, a misspelt choice or a value out
of its range is a one-line :class:`~training.run.config.ConfigError`.

Keys of older configs are read and translated (:data:`LEGACY_KEYS`), with a warning:
``train.tensorboard: false`` takes ``tensorboard`` out of ``train.report_to``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
import warnings
from pathlib import Path
from typing import Any, Literal

import yaml

from feedback_data.files.io import NotUtf8, read_utf8
from training.run.config import DEFAULT_REPORT_TO, GROUPS, ConfigError, RecipeConfig
from training.run.config_checks import validate

# Short names for the three things every launch gives.
ALIASES = {"model": "model.name_or_path", "out": "train.output_dir",
           "output_dir": "train.output_dir"}
# Keys this version replaced, with their type; _migrate translates them.
LEGACY_KEYS: dict[str, Any] = {"train.tensorboard": bool}


def _migrate(raw: dict[str, Any]) -> None:
    """``train.tensorboard: true|false`` (before train.report_to) -> report_to with or
    without tensorboard."""
    train = raw.get("train")
    if not isinstance(train, dict) or "tensorboard" not in train:
        return
    on = _coerce(train.pop("tensorboard"), bool, "train.tensorboard")
    report = [r for r in train.get("report_to", list(DEFAULT_REPORT_TO)) if r != "tensorboard"]
    train["report_to"] = report + ["tensorboard"] if on else report
    warnings.warn(f"train.tensorboard is replaced by train.report_to; read as report_to="
                  f"{train['report_to']}", FutureWarning, stacklevel=3)


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
    for legacy in LEGACY_KEYS:
        if key in (legacy, legacy.partition(".")[2]):
            return legacy
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
    if dotted in LEGACY_KEYS:
        return LEGACY_KEYS[dotted]
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
            loaded = yaml.safe_load(read_utf8(path))
        except NotUtf8 as exc:
            raise ConfigError(str(exc)) from None
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
    _migrate(raw)
    cfg = _build(RecipeConfig, raw, "")
    validate(cfg)
    return cfg



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

