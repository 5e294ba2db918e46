"""The shape the recipes keep: each reads top to bottom as calls to named sections, so no
function in training/recipe/, eval/runner.py or pipeline/demo.py runs over 80 lines; and no
module of the packages is a sliver under 40 lines (a module is a room's worth of one thing),
but ``__init__``s and the few named below, each with its reason."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("annotation", "feedback_data", "training", "inference", "eval", "pipeline")
RECIPES = [*sorted((ROOT / "training" / "recipe").glob("*.py")), ROOT / "eval" / "runner.py",
           ROOT / "pipeline" / "demo.py"]
MAX_FUNCTION_LINES = 80
MIN_MODULE_LINES = 40
SMALL_ON_PURPOSE = {
    "feedback_data/errors.py": "the errors every room raises: nothing else belongs beside them",
    "feedback_data/files/paths.py": "the cache folders, read by every room that stores data",
    "inference/toy_models.py": "the stand-in models of tests and docs, kept out of real code",
    "pipeline/pilot.py": "the pilot annotation round, one step of the demo and of `rhf demo "
                         "--pilot`",
}


def long_functions(paths: list[Path]) -> list[str]:
    out = []
    for path in paths:
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    out.append(f"{where}:{node.lineno} {node.name} ({lines})")
    return out


def small_modules() -> list[str]:
    out = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if path.name != "__init__.py" and rel not in SMALL_ON_PURPOSE \
                    and len(path.read_text().splitlines()) < MIN_MODULE_LINES:
                out.append(rel)
    return out


def test_the_checker_counts_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    path = tmp_path / "probe.py"
    path.write_text(f"def short():\n    return 1\n\n\ndef long():\n{body}\n")
    assert long_functions([path]) == [f"probe.py:5 long ({MAX_FUNCTION_LINES + 1})"]


def test_no_recipe_function_is_over_80_lines():
    assert long_functions(RECIPES) == []


def test_no_module_is_a_sliver():
    assert small_modules() == []
    still_small = [p for p in SMALL_ON_PURPOSE
                   if len((ROOT / p).read_text().splitlines()) < MIN_MODULE_LINES]
    assert still_small == list(SMALL_ON_PURPOSE)  # a grown one leaves the list
