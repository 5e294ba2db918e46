"""The method knobs as command-line options, made from :class:`inference.dispatch.MethodParams`.

A command declares ``knobs: dict[str, Any]`` and is decorated with :func:`with_method_options`:
each MethodParams field becomes one option (its type, default and help from the field), and
the command gets their values as ``knobs``. A new field is then an option of `rhf infer` and
`rhf eval` with no edit here. ``--method`` / ``--methods`` (:func:`method_option`) list the
method registry's entries when help is shown, so a method registered later is listed too.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Collection
from dataclasses import MISSING, fields
from typing import Annotated, Any, TypeVar, get_type_hints

import typer
from typer.models import OptionInfo

from feedback_data.registry import lazy_help_option
from inference.dispatch import METHOD_REGISTRY, MethodParams

F = TypeVar("F", bound=Callable[..., Any])
KNOBS_PARAMETER = "knobs"


def knob_parameters(exclude: Collection[str] = ()) -> list[inspect.Parameter]:
    """One keyword-only typer option per MethodParams field (but ``exclude``)."""
    hints = get_type_hints(MethodParams)
    out = []
    for f in fields(MethodParams):
        if f.name in exclude:
            continue
        default = f.default if f.default is not MISSING else None
        option = typer.Option(help=f.metadata["help"], show_default=default is not None)
        out.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                     annotation=Annotated[hints[f.name], option]))
    return out


def with_method_options(exclude: Collection[str] = ()) -> Callable[[F], F]:
    """Replace the command's ``knobs`` parameter by one option per MethodParams field (but
    ``exclude``); the command is called with their values as ``knobs``, a dict."""

    def wrap(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        if KNOBS_PARAMETER not in signature.parameters:
            raise TypeError(f"{command.__name__} has no '{KNOBS_PARAMETER}' parameter")
        generated = knob_parameters(exclude)
        names = [p.name for p in generated]
        params: list[inspect.Parameter] = []
        for p in signature.parameters.values():
            if p.name == KNOBS_PARAMETER:
                params += generated
            else:
                params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            knobs = {name: kwargs.pop(name) for name in names}
            return command(**kwargs, **{KNOBS_PARAMETER: knobs})

        run.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return wrap


def registered_methods_help() -> str:
    """Each registered method with its title and the knobs it reads."""
    return "; ".join(f"{m.name} ({m.display_title}"
                     + (f"; knobs {', '.join(m.params)}" if m.params else "") + ")"
                     for m in METHOD_REGISTRY)


def method_option(intro: str, outro: str = "", show_default: bool = True) -> OptionInfo:
    """An option naming one or more registered methods; its help: ``intro``, the methods of
    the registry when help is shown, ``outro``."""
    return lazy_help_option(lambda: f"{intro} {registered_methods_help()}.{outro}",
                            show_default=show_default)
