"""Every third-party package the product imports is declared in pyproject.toml."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_top_level(folder: Path) -> set[str]:
    """Top-level names of every import (late ones inside functions too) under ``folder``."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
    return names


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    return {re.split(r"[\s<>=~!\[;]", s, maxsplit=1)[0].lower().replace("_", "-") for s in specs}


def test_every_imported_third_party_package_is_declared() -> None:
    third_party = _imported_top_level(ROOT / "src/e2e_mammo") - set(sys.stdlib_module_names)
    third_party -= {"e2e_mammo", "__future__"}
    owners = packages_distributions()
    undeclared = {}
    for name in sorted(third_party):
        dists = {d.lower().replace("_", "-") for d in owners.get(name, [name])}
        if not dists & _declared():
            undeclared[name] = sorted(dists)
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
