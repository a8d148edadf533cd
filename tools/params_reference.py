"""Rewrite the parameter table of ``docs/parameters.md`` from the schema's descriptions.

``python tools/params_reference.py`` regenerates the fenced table (``make docs`` runs it);
``tests/test_params_reference.py`` fails when the committed file differs from what this renders
or when a key of ``params.yaml`` has no description in ``workflow/schemas/params.schema.yaml``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from e2e_mammo.config import load_yaml  # noqa: E402
from e2e_mammo.params_reference import reference_table, undocumented, with_reference  # noqa: E402

SCHEMA = ROOT / "workflow" / "schemas" / "params.schema.yaml"
PARAMS = ROOT / "params.yaml"
REFERENCE = ROOT / "docs" / "parameters.md"


def rendered() -> str:
    """docs/parameters.md as it should read: its prose kept, its table generated."""
    schema, params = load_yaml(SCHEMA), load_yaml(PARAMS)
    missing = undocumented(schema, params)
    if missing:
        raise SystemExit(f"{SCHEMA}: no description for: {', '.join(missing)}")
    return with_reference(REFERENCE.read_text(), reference_table(schema, params))


if __name__ == "__main__":
    REFERENCE.write_text(rendered())
    print(f"wrote {REFERENCE.relative_to(ROOT)}")
