"""The exclusions report: written spreadsheet-safe, read back exactly."""

from __future__ import annotations

from pathlib import Path

from e2e_mammo.exclusions import Exclusion, read_exclusions, write_exclusions


def test_names_that_look_like_formulas_are_escaped_and_read_back_intact(tmp_path: Path) -> None:
    rows = [
        Exclusion("convert", '=HYPERLINK("http://x.test","open")', "a.csv:2", "=1+1 bad"),
        Exclusion("index", "-abc", "@b.dcm", "+ not a number"),
        Exclusion("index", "'quoted", "c.csv:3", "-0.5"),
    ]
    write_exclusions(rows, tmp_path / "exclusions.csv")
    text = (tmp_path / "exclusions.csv").read_text()
    for cell in ("'=HYPERLINK", "'=1+1 bad", "'-abc", "'@b.dcm", "'+ not", "''quoted"):
        assert cell in text
    assert ",-0.5\n" in text  # a signed number is no formula: left as it is
    assert read_exclusions(tmp_path / "exclusions.csv") == rows
