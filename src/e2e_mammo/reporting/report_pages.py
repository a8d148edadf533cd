"""The tables as HTML pages for Snakemake's report (``snakemake --report results/report.html``),
which shows images, PDFs and HTML inline but offers any other file only as a download.

:func:`markdown_page` renders the subset of Markdown our table writers produce (paragraphs,
pipe tables, ``-`` lists, ``**bold**`` and ```code```); :func:`csv_page` renders a CSV table.
Every text is HTML-escaped.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd

from e2e_mammo.io import atomic_write_bytes

STYLE = (
    "body{font-family:sans-serif;font-size:14px;margin:1em}"
    "table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #bbb;padding:3px 7px;text-align:left}"
    "th{background:#eee}"
)


def _inline(text: str) -> str:
    out = html.escape(text.strip(), quote=False)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _cells(line: str) -> list[str]:
    return [c for c in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    header, *body = [ln for ln in lines if not re.fullmatch(r"\|?[\s:|-]+\|?", ln.strip())]
    head = "".join(f"<th>{_inline(c)}</th>" for c in _cells(header))
    rows = ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in _cells(r)) + "</tr>" for r in body]
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    """Consecutive lines of one kind: ``table``, ``list`` or ``para`` (blank lines split)."""
    blocks: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if not line.strip():
            blocks.append(("blank", []))
            continue
        kind = (
            "table"
            if line.lstrip().startswith("|")
            else "list"
            if line.startswith("- ")
            else "para"
        )
        if blocks and blocks[-1][0] == kind:
            blocks[-1][1].append(line)
        else:
            blocks.append((kind, [line]))
    return [b for b in blocks if b[0] != "blank"]


def markdown_html(text: str) -> str:
    """The HTML body of a table writer's Markdown."""
    parts = []
    for kind, lines in _blocks(text):
        if kind == "table":
            parts.append(_table(lines))
        elif kind == "list":
            items = "".join(f"<li>{_inline(ln[2:])}</li>" for ln in lines)
            parts.append(f"<ul>{items}</ul>")
        else:
            parts.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "\n".join(parts)


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h2>{html.escape(title)}</h2>\n{body}\n"
        "</body></html>\n"
    )


def markdown_page(markdown: str | Path, title: str, out: str | Path) -> Path:
    """Write a Markdown table (file) as a standalone HTML page."""
    return atomic_write_bytes(_page(title, markdown_html(Path(markdown).read_text())).encode(), out)


def csv_page(csv: str | Path, title: str, out: str | Path) -> Path:
    """Write a CSV table as a standalone HTML page (numbers to 3 decimals, empty cells blank)."""
    frame = pd.read_csv(csv)
    body = frame.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.3f}", border=0)
    return atomic_write_bytes(_page(title, body).encode(), out)
