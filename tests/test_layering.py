"""The layering of docs/architecture.md, enforced on every module's imports (including those
in functions).

    pipeline + rhf_cli (4) -> eval (3) -> annotation | training | inference (2) -> feedback_data (1)

Imports point down only; the three layer-2 packages never import each other; no module
import cycle anywhere, not even inside a package.

Inside feedback_data/, the rooms of docs/architecture.md ("Inside feedback_data"): files
(plumbing) imports only the errors; records the files and, for its consistency flags, the
answer matcher; text only the records' vocabulary (schema, flag names); sources, tasks and
exports the rooms below them. Every module of feedback_data/ is in a room but ``rhf data``
(feedback_data/cli.py).

Inside training/, the rooms of docs/architecture.md: the recipe may import every room; the
data and the model rooms import, of the others, only the config dataclasses; the run's state
imports no recipe module but the objective registry, and of the data only the term names
(``objective`` and ``data.term_weights`` are checked against them). Every module of
training/ is in a room, but the ``rhf train`` shell (training/cli.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = {
    "feedback_data": 1,
    "annotation": 2,
    "training": 2,
    "inference": 2,
    "eval": 3,
    "pipeline": 4,
    "rhf_cli": 4,
}


# room -> the modules of the other rooms it may import (a name or its package)
ROOMS: dict[str, tuple[str, ...]] = {
    "training.recipe": ("training.data", "training.model", "training.run"),
    "training.run": ("training.data.examples", "training.recipe.objectives"),
    "training.data": ("training.run.config",),
    "training.model": ("training.run.config",),
    # feedback_data: plumbing at the bottom, then the records, the text formats over them,
    # and the sources, tasks and exports that use all three.
    "feedback_data.files": ("feedback_data.errors",),
    "feedback_data.records": ("feedback_data.errors", "feedback_data.files",
                              "feedback_data.text.answers"),
    "feedback_data.text": ("feedback_data.records.schema", "feedback_data.records.consistency"),
    "feedback_data.sources": ("feedback_data.errors", "feedback_data.files",
                              "feedback_data.records", "feedback_data.text"),
    "feedback_data.tasks": ("feedback_data.errors", "feedback_data.registry",
                            "feedback_data.files", "feedback_data.records",
                            "feedback_data.text", "feedback_data.sources"),
    "feedback_data.exports": ("feedback_data.errors", "feedback_data.registry",
                              "feedback_data.files", "feedback_data.records",
                              "feedback_data.text"),
    "feedback_data.errors": (),
    "feedback_data.registry": (),
}
OUTSIDE_ROOMS = {"training", "training.cli", "feedback_data", "feedback_data.cli"}


def room(module: str) -> str | None:
    return next((r for r in ROOMS if module == r or module.startswith(r + ".")), None)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """Module name -> file, for every module of the layered packages and rhf_cli.py."""
    found = {"rhf_cli": ROOT / "rhf_cli.py"}
    for package in LAYER:
        if (ROOT / package).is_dir():
            for path in sorted((ROOT / package).rglob("*.py")):
                found[module_name(path)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported project module, line) for every import in the file, at any depth.

    `from pkg import mod` counts as an import of `pkg.mod` when that is a module, else of
    `pkg`; relative imports are resolved against the importing module's package.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            # Longest project-module prefix of the dotted name.
            parts = target.split(".")
            for cut in range(len(parts), 0, -1):
                candidate = ".".join(parts[:cut])
                if candidate in known:
                    if (candidate, node.lineno) not in out:
                        out.append((candidate, node.lineno))
                    break
    return out


def import_graph() -> dict[str, list[tuple[str, int]]]:
    modules = project_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def top(module: str) -> str:
    return module.split(".")[0]


def layer_violations(graph: dict[str, list[tuple[str, int]]]) -> list[str]:
    modules = project_modules()
    bad = []
    for source, targets in graph.items():
        for target, line in targets:
            src, dst = top(source), top(target)
            if src == dst:
                continue
            where = f"{modules[source].relative_to(ROOT)}:{line}: {source} imports {target}"
            if LAYER[dst] > LAYER[src]:
                bad.append(f"{where} (layer {LAYER[src]} imports upward layer {LAYER[dst]})")
            elif LAYER[dst] == LAYER[src]:
                bad.append(f"{where} (layer-{LAYER[src]} packages never import each other)")
    return bad


def room_violations(graph: dict[str, list[tuple[str, int]]]) -> list[str]:
    bad = []
    for source, targets in graph.items():
        src = room(source)
        if src is None:
            continue
        for target, line in targets:
            dst = room(target)
            if dst is None or dst == src or top(dst) != top(src):
                continue  # across packages the layers rule, not the rooms
            if not any(target == a or target.startswith(a + ".") for a in ROOMS[src]):
                bad.append(f"{source} imports {target} (line {line}): room {src} may import "
                           f"only {', '.join(ROOMS[src])} of the other rooms")
    return bad


def cycles(graph: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (or a self-loop)."""
    edges = {m: sorted({t for t, _ in ts}) for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:  # Tarjan's algorithm
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges[v]:
                components.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return components


def describe_cycle(component: list[str], graph: dict[str, list[tuple[str, int]]]) -> str:
    members = set(component)
    lines = [
        f"{source} imports {target} (line {line})"
        for source in component
        for target, line in graph[source]
        if target in members
    ]
    return "cycle among " + ", ".join(component) + ": " + "; ".join(lines)


def test_import_walker_sees_function_level_and_relative_imports(tmp_path):
    path = tmp_path / "mod.py"
    path.write_text(
        "import eval.metrics\n"
        "def f():\n"
        "    from inference import methods\n"
        "    from . import splits\n"
    )
    known = {"eval.metrics", "eval", "inference", "inference.methods", "feedback_data.splits"}
    got = imports_of("feedback_data.schema", path, known)
    assert got == [("eval.metrics", 1), ("inference.methods", 3), ("feedback_data.splits", 4)]


def test_cycle_finder_reports_a_two_module_cycle():
    graph = {"a": [("b", 1)], "b": [("a", 2)], "c": [("a", 3)]}
    assert cycles(graph) == [["a", "b"]]
    assert "a imports b (line 1)" in describe_cycle(["a", "b"], graph)


def test_imports_point_down_only():
    bad = layer_violations(import_graph())
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph = import_graph()
    found = [describe_cycle(c, graph) for c in cycles(graph)]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_room_checker_refuses_an_import_against_the_rooms():
    graph = {"training.data.collate": [("training.recipe.loop", 3), ("training.run.config", 4)],
             "training.run.checkpoint": [("training.recipe.objectives", 5)],
             "training.cli": [("training.recipe.loop", 6)]}
    assert room_violations(graph) == [
        "training.data.collate imports training.recipe.loop (line 3): room training.data may "
        "import only training.run.config of the other rooms"]


def test_room_checker_keeps_feedback_data_plumbing_at_the_bottom():
    graph = {"feedback_data.files.io": [("feedback_data.records.schema", 7),
                                         ("feedback_data.errors", 8)],
             "feedback_data.records.consistency": [("feedback_data.text.answers", 2)],
             "feedback_data.records.store": [("feedback_data.sources.paper_import", 9)],
             "feedback_data.cli": [("feedback_data.exports.formats", 4)]}
    assert room_violations(graph) == [
        "feedback_data.files.io imports feedback_data.records.schema (line 7): room "
        "feedback_data.files may import only feedback_data.errors of the other rooms",
        "feedback_data.records.store imports feedback_data.sources.paper_import (line 9): room "
        "feedback_data.records may import only feedback_data.errors, feedback_data.files, "
        "feedback_data.text.answers of the other rooms"]


def test_imports_follow_the_rooms():
    bad = room_violations(import_graph())
    assert not bad, "imports against the rooms of training and feedback_data:\n" + "\n".join(bad)


def test_every_training_module_is_in_a_room():
    outside = sorted(m for m in project_modules()
                     if m.startswith("training") and room(m) is None and m not in OUTSIDE_ROOMS)
    assert not outside, f"training modules in no room (docs/architecture.md): {outside}"


def test_every_feedback_data_module_is_in_a_room():
    outside = sorted(m for m in project_modules() if m.startswith("feedback_data")
                     and room(m) is None and m not in OUTSIDE_ROOMS)
    assert not outside, f"feedback_data modules in no room (docs/architecture.md): {outside}"
