"""The `rhf` command: one sub-command group per area, each a thin shell over its package."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    help="rhf: learn better multi-hop reasoning from rich human feedback (Joshi et al., 2023).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# (group name, module holding a typer app named `app`). Modules keep heavy imports inside
# their commands so `rhf --help` stays fast.
GROUPS = (
    ("data", "feedback_data.cli"),
    ("model", "pipeline.model_cli"),
    ("chains", "inference.chains_cli"),
    ("annotate", "annotation.cli"),
    ("train", "training.cli"),
    ("infer", "pipeline.infer_cli"),
    ("eval", "eval.cli"),
)
# Single commands (module, function name).
COMMANDS = (
    ("serve", "pipeline.serve_cli", "serve"),
    ("demo", "pipeline.demo_cli", "demo_command"),
)

# The root callback: puts on the context what only the top layer may build (the critic of
# `rhf annotate push --model`; annotation never imports inference or eval).
ROOT_CALLBACK = ("pipeline.critic_scores", "root_callback")

for _name, _module in GROUPS:
    app.add_typer(importlib.import_module(_module).app, name=_name)

for _name, _module, _func in COMMANDS:
    app.command(_name)(getattr(importlib.import_module(_module), _func))

app.callback()(getattr(importlib.import_module(ROOT_CALLBACK[0]), ROOT_CALLBACK[1]))


if __name__ == "__main__":
    app()
