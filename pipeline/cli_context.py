"""What the `rhf` root command hands its sub-commands through the click context object.

rhf_cli installs :func:`root_callback` as the root callback (as it installs every command, by
module name). Today it carries one thing: the critic of `rhf annotate push --model` and
`rhf annotate score`, which annotation may not build itself (it never imports inference or
eval).
"""

from __future__ import annotations

import typer


def root_callback(ctx: typer.Context) -> None:
    """rhf: learn better multi-hop reasoning from rich human feedback (Joshi et al., 2023)."""
    from pipeline.critic_scores import register_critic

    ctx.obj = register_critic(ctx.obj if isinstance(ctx.obj, dict) else {})
