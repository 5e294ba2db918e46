"""The docs build is a check that can fail: `make test` runs `mkdocs build --strict` without
--quiet (which hides the warnings, and then --strict never aborts), and every page of docs/
is reachable from the nav but the generated records under demo/ and gpu/ (``not_in_nav``)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def nav_pages(nav: list) -> set[str]:
    out: set[str] = set()
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        out |= nav_pages(value) if isinstance(value, list) else {value}
    return out


def test_nav_pages_reads_nested_sections():
    assert nav_pages([{"Home": "a.md"}, {"G": [{"x": "b.md"}, {"S": [{"y": "c/d.md"}]}]},
                      "e.md"]) == {"a.md", "b.md", "c/d.md", "e.md"}


def test_every_page_is_in_the_nav():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    generated = [line.strip().strip("/") for line in config["not_in_nav"].splitlines()
                 if line.strip()]
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    pages = {p for p in pages if p.split("/")[0] not in generated}
    assert pages - nav_pages(config["nav"]) == set()
    assert nav_pages(config["nav"]) - pages == set()  # nor a nav entry without its page


def test_make_builds_the_docs_strict_and_not_quiet():
    builds = [line for line in (ROOT / "Makefile").read_text().splitlines()
              if "mkdocs build" in line and not line.lstrip().startswith("#")]
    assert len(builds) == 2  # make test and make docs
    for line in builds:
        assert "--strict" in line and not re.search(r"\s(--quiet|-q)\b", line), line
