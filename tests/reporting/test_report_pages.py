"""The tables as HTML pages for Snakemake's report."""

from e2e_mammo.reporting.report_pages import csv_page, markdown_html, markdown_page

TABLE = """Table 9: a caption with `code` and **bold**.

| Model | AUC |
|---|---|
| a<b | 0.70 (0.60-0.80) |

Notes:
- row b: not run
"""


def test_markdown_table_becomes_an_html_table():
    body = markdown_html(TABLE)
    assert "<th>Model</th><th>AUC</th>" in body
    assert "<td>0.70 (0.60-0.80)</td>" in body
    assert "|---|" not in body


def test_markdown_text_is_escaped_and_styled():
    body = markdown_html(TABLE)
    assert "a&lt;b" in body
    assert "<code>code</code>" in body and "<b>bold</b>" in body


def test_markdown_list_becomes_items():
    assert "<ul><li>row b: not run</li></ul>" in markdown_html(TABLE)


def test_markdown_page_is_a_standalone_document(tmp_path):
    md = tmp_path / "t.md"
    md.write_text(TABLE)
    page = markdown_page(md, "Table 9", tmp_path / "t.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<h2>Table 9</h2>" in page


def test_csv_page_renders_numbers_to_three_decimals(tmp_path):
    csv = tmp_path / "e.csv"
    csv.write_text("dataset,auc,note\ncbis-ddsm,0.71234,\n")
    page = csv_page(csv, "Ensembles", tmp_path / "e.html").read_text()
    assert "<td>0.712</td>" in page and "cbis-ddsm" in page
