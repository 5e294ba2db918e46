"""The code a demo stage runs, as a fingerprint its cache key includes.

A stage names the modules it calls (``eval.runner``); the fingerprint is the sha256 of every
toolkit source file those modules import, directly or not (imports inside functions too),
plus the versions of the packages that compute the numbers. Editing a method's source
changes the fingerprint of exactly the stages whose code imports it, so they re-run; a
stage whose code did not change is reused. The commit (with ``-dirty`` for an edited tree)
is recorded beside it, to say where a reused result came from.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("feedback_data", "annotation", "training", "inference", "eval", "pipeline")
# Packages whose versions can change a stage's numbers.
VERSIONED = ("torch", "transformers", "tokenizers", "safetensors", "accelerate", "peft",
             "datasets", "numpy")


def _module_file(name: str, root: Path) -> Path | None:
    parts = name.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = root.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, name: str) -> set[str]:
    """The project modules ``path`` imports (at any depth; ``from pkg import mod`` counts
    as ``pkg.mod``); relative imports resolved against its package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def source_files(modules: Iterable[str], root: Path = ROOT, shallow: Iterable[str] = ()
                 ) -> list[Path]:
    """Every toolkit source file ``modules`` need: themselves and all they import, closed;
    plus the files of ``shallow`` modules alone (glue whose imports are not followed)."""
    todo, seen, files = list(modules), set(), set()
    files.update(p for p in (_module_file(m, root) for m in shallow) if p is not None)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name, root)
        if path is None:
            continue
        files.add(path)
        parent = name.rpartition(".")[0]
        if parent:
            todo.append(parent)  # a package's __init__ runs before its modules
        todo.extend(_imports(path, name))
    return sorted(files)


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def fingerprint(modules: Iterable[str], root: Path = ROOT, shallow: Iterable[str] = ()
                ) -> dict[str, Any]:
    """{"sources": sha256 over the files, "files": {relative path: sha256}, "packages": ...}"""
    files = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in source_files(modules, root, shallow)}
    digest = hashlib.sha256("".join(f"{k}:{v}\n" for k, v in files.items()).encode())
    return {"sources": digest.hexdigest(), "files": files, "packages": package_versions()}


def changed_files(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """The source files whose content differs between two fingerprints (added, removed or
    edited), and 'package X a -> b' for each changed version."""
    if not old:
        return []
    a, b = old.get("files") or {}, new.get("files") or {}
    out = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    pa, pb = old.get("packages") or {}, new.get("packages") or {}
    out += [f"{k} {pa.get(k)} -> {pb.get(k)}" for k in sorted(set(pa) | set(pb))
            if pa.get(k) != pb.get(k)]
    return out
