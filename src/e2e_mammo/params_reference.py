"""The parameter reference (``docs/parameters.md``) generated from the schema's descriptions.

Every key of ``params.yaml`` is described once, in ``workflow/schemas/params.schema.yaml``; the
reference table is that schema walked in order, one row per described key, its default read
from ``params.yaml``. Objects are walked into (``a.b.c``); a list of records (``table1``) or a
map of named entries (``patches.sets``) is one row, its description naming the fields.
``tools/params_reference.py`` rewrites the table; a test fails when the file has drifted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from e2e_mammo.config import resolve_ref

#: The lines that fence the generated table inside docs/parameters.md.
BEGIN = "<!-- BEGIN generated from the schema by tools/params_reference.py -->"
END = "<!-- END generated -->"
#: A default longer than this many characters is shown as a pointer to params.yaml.
MAX_DEFAULT = 48
_UNSET = object()


@dataclass(frozen=True)
class Entry:
    """One described key: its dotted path, its description and its params.yaml default."""

    key: str
    description: str
    default: Any


def described_keys(schema: dict, params: dict) -> Iterator[Entry]:
    """Each key of the schema with a description, in the schema's order, walking objects only."""
    yield from _walk(schema, schema, params, "")


def _walk(node: Any, root: dict, value: Any, path: str) -> Iterator[Entry]:
    # A key's own description wins over the one of the definition it refers to.
    description = node.get("description") if isinstance(node, dict) else None
    node = resolve_ref(node, root)
    description = description or node.get("description")
    if path and description:
        yield Entry(path, " ".join(str(description).split()), value)
    for name, child in node.get("properties", {}).items():
        sub = value.get(name, _UNSET) if isinstance(value, dict) else _UNSET
        yield from _walk(child, root, sub, f"{path}.{name}" if path else name)


def params_leaves(params: dict, path: str = "") -> Iterator[str]:
    """The dotted path of every leaf of ``params`` (a list counts as one leaf)."""
    for name, value in params.items():
        key = f"{path}.{name}" if path else name
        if isinstance(value, dict) and value:
            yield from params_leaves(value, key)
        else:
            yield key


def undocumented(schema: dict, params: dict) -> list[str]:
    """The leaves of ``params`` that neither they nor any enclosing key describes."""
    described = {e.key for e in described_keys(schema, params)}

    def covered(key: str) -> bool:
        parts = key.split(".")
        return any(".".join(parts[:n]) in described for n in range(1, len(parts) + 1))

    return [key for key in params_leaves(params) if not covered(key)]


def format_default(value: Any) -> str:
    """A default as the table shows it: YAML flow style, or a pointer when it is long."""
    if value is _UNSET:
        return "(unset)"
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    text = text.removesuffix("\n...").removesuffix("...").strip()
    if len(text) > MAX_DEFAULT:
        return "see `params.yaml`"
    return f"`{text}`"


def reference_table(schema: dict, params: dict) -> str:
    """The Markdown table of every described key: key, default, meaning."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for entry in described_keys(schema, params):
        meaning = entry.description.replace("|", "\\|")
        lines.append(f"| `{entry.key}` | {format_default(entry.default)} | {meaning} |")
    return "\n".join(lines)


def with_reference(document: str, table: str) -> str:
    """``document`` with the text between :data:`BEGIN` and :data:`END` replaced by ``table``;
    a document without both fences is a :class:`ValueError`."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the document lacks the fences {BEGIN!r} ... {END!r}")
    return document[: start + len(BEGIN)] + "\n" + table + "\n" + document[end:]
