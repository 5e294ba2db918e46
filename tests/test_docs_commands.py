"""Every `rhf ...` command the README and docs/ show is a real command: its sub-command exists,
`--help` runs on it, and every option it uses is one that command takes (for `rhf train`,
every config override is a known key). A renamed flag or command breaks this test.

Commands are read from fenced code blocks (a line starting with `rhf `, joined over trailing
backslashes) and from inline code spans starting with `rhf `. Placeholders (`<group>`, `...`,
`M`) are skipped where a value or a sub-command goes.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SHELL_STOPS = {"|", "||", "&&", ";", "&", ">", ">>", "2>&1"}


@dataclass(frozen=True)
class Shown:
    where: str  # file:line
    text: str  # the command line as the docs show it


def _code_lines(path: Path) -> list[Shown]:
    found: list[Shown] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    rel = path.relative_to(ROOT)
    fence: str | None = None  # the open fence's language ("" for a plain block)
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            fence = line.strip()[3:].strip() if fence is None else None
        elif fence in ("bash", "sh", "shell", "console") and re.match(r"\s*(\$ )?rhf\s", line):
            # shell blocks only: a picture in a plain block may say "rhf serve: ..."
            start, text = i, re.sub(r"^\s*(\$ )?", "", line)
            while text.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                text = text.rstrip()[:-1] + " " + lines[i].strip()
            found.append(Shown(f"{rel}:{start + 1}", text))
        elif fence is None:
            for span in re.findall(r"`(rhf [^`]+)`", line):
                found.append(Shown(f"{rel}:{i + 1}", span))
        i += 1
    return found


def shown_commands() -> list[Shown]:
    return [s for path in DOCS for s in _code_lines(path)]


def _tokens(text: str) -> list[str]:
    try:
        tokens = shlex.split(text, comments=True)
    except ValueError:  # an unbalanced quote in prose: read it word by word
        tokens = text.split()
    for k, tok in enumerate(tokens):
        if tok in SHELL_STOPS:
            return tokens[:k]
    return tokens


def _placeholder(tok: str) -> bool:
    return tok.startswith("<") or tok in ("...", "…") or tok.endswith("...")


def _group(cmd: Any) -> bool:  # typer's commands are click-like (typer vendors click)
    return bool(getattr(cmd, "commands", None)) or hasattr(cmd, "invoke_without_command")


def _resolve(root: Any, args: list[str]) -> tuple[list[str], Any, list[str]]:
    """(sub-command path, the command, the arguments left for it)."""
    path, cmd = [], root
    while _group(cmd) and args and args[0] in (getattr(cmd, "commands", None) or {}):
        path.append(args[0])
        cmd, args = cmd.commands[args[0]], args[1:]
    hidden = getattr(cmd, "commands", {}).get("run")
    if path == ["train"] and hidden is not None and getattr(hidden, "hidden", False):
        cmd = hidden  # `rhf train ARGS` is its hidden `run` command (training/cli.py)
    return path, cmd, args


def _options(cmd: Any) -> dict[str, Any]:
    opts: dict[str, Any] = {"--help": None}
    for p in cmd.params:
        for name in [*p.opts, *getattr(p, "secondary_opts", [])]:
            opts[name] = p
    return opts


def _check(root: Any, shown: Shown) -> tuple[str, ...] | None:
    """The sub-command path of a shown command, after checking its options; None when the
    line names no command (``rhf <group> ...``)."""
    from training.run.config import ConfigError
    from training.run.config_load import parse_overrides

    args = _tokens(shown.text)[1:]
    path, cmd, rest = _resolve(root, args)
    if _group(cmd) and not getattr(cmd, "invoke_without_command", False):
        if rest and _placeholder(rest[0]):
            return None
        assert not rest or rest[0].startswith("-"), (
            f"{shown.where}: `rhf {' '.join(path)}` has no sub-command {rest[0]!r} "
            f"(known: {', '.join(cmd.commands)}): {shown.text}")
    opts = _options(cmd)
    overrides: list[str] = []
    k = 0
    while k < len(rest):
        tok = rest[k]
        name = tok.split("=", 1)[0]
        if tok.startswith("--") and name in opts:
            param = opts[name]
            takes_value = param is not None and not getattr(param, "is_flag", False) and \
                "=" not in tok and not name.startswith("--no-")
            k += 2 if takes_value else 1
            continue
        if path == ["train"] and not _placeholder(tok):
            overrides.append(tok)  # rhf train hands the rest to the config as overrides
        else:
            assert not tok.startswith("--"), (
                f"{shown.where}: `rhf {' '.join(path)}` has no option {name} "
                f"(see `rhf {' '.join(path)} --help`): {shown.text}")
        k += 1
    if overrides:
        try:
            parse_overrides(overrides)
        except ConfigError as exc:
            raise AssertionError(f"{shown.where}: {exc}: {shown.text}") from None
    return tuple(path)


def test_the_docs_show_commands():
    shown = shown_commands()
    assert len(shown) > 50  # the extraction itself works
    assert any(s.where.startswith("docs/tracking.md") and "--report-to" in s.text
               for s in shown)


def test_every_shown_command_is_real_and_its_help_runs():
    import typer.main
    from typer.testing import CliRunner

    from rhf_cli import app

    root = typer.main.get_command(app)
    paths, wrong = set(), []
    for shown in shown_commands():
        try:
            path = _check(root, shown)
        except AssertionError as exc:
            wrong.append(str(exc).splitlines()[0])
            continue
        if path is not None:
            paths.add(path)
    assert not wrong, "commands in the docs that rhf does not have:\n" + "\n".join(wrong)
    assert ("train",) in paths and ("eval",) in paths and ("annotate", "push") in paths
    runner = CliRunner()
    for path in sorted(paths):
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, f"rhf {' '.join(path)} --help: {result.output}"
        assert "Usage:" in result.output


@pytest.mark.parametrize("text, message", [
    ("rhf train --objective multitask --lr-typo 1e-4", "unknown config key 'lr_typo'"),
    ("rhf eval --model m --no-such-flag", "has no option --no-such-flag"),
    ("rhf annotate pushh chains.jsonl", "has no sub-command 'pushh'"),
])
def test_a_renamed_flag_or_command_is_caught(text, message):
    import typer.main

    from rhf_cli import app

    with pytest.raises(AssertionError, match=message):
        _check(typer.main.get_command(app), Shown("x.md:1", text))
