"""The package's layers run one way: a module imports only from layers below its own.

The order, bottom up (docs/architecture.md draws it): the base modules; dataset-agnostic
preprocessing; the datasets; torch data; models; MLflow tracking; evaluation (metrics,
bootstrap, TTA, ensemble arithmetic, the two-step baseline); training; reporting (tables,
figures, the ensemble and claims stages); predict; the command line. Inside one subpackage
modules import each other freely; every import of another subpackage, at module level or
inside a function, must point downwards.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "e2e_mammo"

#: Bottom up. Names on one line share a layer and must not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "constants"),
    ("io", "logs", "start_method", "lazy", "provenance"),
    ("config", "exclusions", "output_times", "code_version"),
    ("params_reference",),
    ("plan",),
    ("preprocess",),
    ("datasets",),
    ("data",),
    ("models",),
    ("tracking",),
    ("logged_models",),
    ("evaluation",),
    ("training",),
    ("reporting",),
    ("predict",),
    ("cli",),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _unit(module: Path) -> str:
    """The top-level unit a file belongs to: its subpackage, or its own name."""
    parts = module.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else module.stem


def _imported_units(module: Path) -> set[str]:
    """The top-level units of ``e2e_mammo`` that ``module`` imports, anywhere in the file."""
    package = module.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            names = ".".join(base + ([node.module] if node.module else [])).split(".")
            if names[0] == "e2e_mammo" and len(names) == 1:
                found.update(alias.name for alias in node.names)
            elif names[0] == "e2e_mammo":
                found.add(names[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names = alias.name.split(".")
                if names[0] == "e2e_mammo" and len(names) > 1:
                    found.add(names[1])
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")


def test_every_unit_of_the_package_has_a_layer():
    units = {_unit(p) for p in MODULES} - {"__init__"}
    assert sorted(units - set(RANK)) == []


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_downwards(module):
    own = _unit(module)
    if own == "__init__":
        return
    upward = sorted(
        unit for unit in _imported_units(module) - {own} if RANK.get(unit, -1) >= RANK[own]
    )
    assert upward == [], f"{module.relative_to(PACKAGE)} imports {upward} (layer {RANK[own]})"


def test_the_checker_sees_relative_and_function_level_imports(tmp_path, monkeypatch):
    package = tmp_path / "e2e_mammo"
    (package / "models").mkdir(parents=True)
    source = "from ..training import fit\n\ndef f():\n    import e2e_mammo.cli\n"
    (package / "models" / "m.py").write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    assert _imported_units(package / "models" / "m.py") == {"training", "cli"}
