"""One registry per kind of piece (tasks, export formats, methods, objectives), by name.

Each kind keeps one :class:`Registry` in the module named in docs/extending.md; the CLI's
choices, `rhf eval`, the service routes and the docs read the names from it. Looking up an
unknown name is one :class:`UnknownName` error that lists the known ones (never a KeyError).

    >>> shapes = Registry("shape")
    >>> shapes.register("square", 4)
    4
    >>> shapes.get("square"), shapes.names()
    (4, ('square',))
    >>> shapes.get("circle")
    Traceback (most recent call last):
    ...
    feedback_data.registry.UnknownName: unknown shape 'circle': known shapes are square
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import typer
from typer.models import OptionInfo

T = TypeVar("T")


class UnknownName(ValueError):
    """A name no registry entry has; the message lists the known names."""


class Registry(Generic[T]):
    """Entries of one kind, in registration order."""

    def __init__(self, kind: str, plural: str | None = None) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T, replace: bool = False) -> T:
        """Add ``entry`` under ``name``; a name taken already is an error unless ``replace``."""
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is registered already")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that add a toy entry take it out again)."""
        self.get(name)
        del self._entries[name]

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise UnknownName(f"unknown {self.kind} {name!r}: known {self.plural} are "
                              f"{', '.join(self._entries) or '(none)'}")
        return self._entries[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def check(self, names: list[str] | tuple[str, ...]) -> None:
        """Every name of ``names`` is known (else the error for the first unknown one)."""
        for name in names:
            self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)


def listing(registry: Registry[Any]) -> str:
    """``name (help); name (help)`` for every entry, in registration order: what a command's
    option lists when its help is shown."""
    return "; ".join(f"{e.name} ({e.help})" if getattr(e, "help", "") else e.name
                     for e in registry)


class LazyHelpOption(OptionInfo):
    """A typer option whose help is written when the command is built (each run and each
    ``--help``), so it names what is registered by then."""

    help_of: Callable[[], str]

    @property  # type: ignore[override]
    def help(self) -> str:
        return self.help_of()

    @help.setter
    def help(self, _value: str | None) -> None:  # typer's own copy; help_of writes it
        pass


def lazy_help_option(help_of: Callable[[], str], *names: str, **kwargs: Any) -> OptionInfo:
    """``typer.Option(*names, **kwargs)`` whose help is ``help_of()``, called as the command
    is built."""
    option = typer.Option(*names, **kwargs)
    lazy = LazyHelpOption.__new__(LazyHelpOption)
    lazy.__dict__.update(option.__dict__)
    lazy.help_of = help_of
    return lazy
