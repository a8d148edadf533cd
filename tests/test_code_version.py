"""The code a job runs: its script's package imports, transitively, hashed without comments."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from e2e_mammo.code_version import code_version, module_closure, source_digest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src/e2e_mammo"
SCRIPTS = ROOT / "workflow/scripts"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture()
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """A tiny ``e2e_mammo`` package and a script that uses part of it."""
    pkg = tmp_path / "src/e2e_mammo"
    _write(pkg / "__init__.py", "")
    _write(pkg / "used.py", "from e2e_mammo.deep import helper\n\ndef f():\n    return helper()\n")
    _write(pkg / "deep.py", "def helper():\n    return 1\n")
    _write(pkg / "unused.py", "X = 1\n")
    _write(pkg / "late.py", "Y = 2\n")
    _write(pkg / "typed.py", "Z = 3\n")
    _write(
        pkg / "sub/__init__.py",
        """
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from e2e_mammo.typed import Z
        """,
    )
    _write(pkg / "sub/thing.py", "class Thing:\n    pass\n")
    script = _write(
        tmp_path / "scripts/job.py",
        """
        from e2e_mammo.used import f
        from e2e_mammo.sub import thing

        def main():
            import e2e_mammo.late
        """,
    )
    return script, pkg


def _names(paths: list[Path], pkg: Path) -> list[str]:
    return sorted(p.relative_to(pkg).as_posix() for p in paths)


def test_closure_follows_imports_transitively_and_late_ones(tree) -> None:
    script, pkg = tree
    names = _names(module_closure(script, pkg), pkg)
    assert {"used.py", "deep.py", "late.py", "__init__.py"} <= set(names)
    assert "unused.py" not in names


def test_closure_holds_a_submodule_imported_by_name(tree) -> None:
    script, pkg = tree
    assert {"sub/__init__.py", "sub/thing.py"} <= set(_names(module_closure(script, pkg), pkg))


def test_imports_under_type_checking_do_not_count(tree) -> None:
    script, pkg = tree
    assert "typed.py" not in _names(module_closure(script, pkg), pkg)


def test_comment_docstring_and_layout_edits_change_nothing(tree) -> None:
    script, pkg = tree
    before = code_version(script, pkg)
    deep = pkg / "deep.py"
    deep.write_text(
        '"""A docstring."""\n\n\n# a comment\ndef helper( ):\n    """Doc."""\n    return 1\n'
    )
    assert code_version(script, pkg) == before


def test_a_code_edit_of_an_imported_module_changes_the_version(tree) -> None:
    script, pkg = tree
    before = code_version(script, pkg)
    (pkg / "deep.py").write_text("def helper():\n    return 2\n")
    assert code_version(script, pkg) != before


def test_an_edit_of_a_module_the_job_does_not_run_changes_nothing(tree) -> None:
    script, pkg = tree
    before = code_version(script, pkg)
    (pkg / "unused.py").write_text("X = 2\n")
    (pkg / "typed.py").write_text("Z = 4\n")
    assert code_version(script, pkg) == before


def test_digest_ignores_docstrings_but_not_strings(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.py", 'def f():\n    """doc"""\n    return "x"\n')
    b = _write(tmp_path / "b.py", 'def f():\n    return "x"\n')
    c = _write(tmp_path / "c.py", 'def f():\n    return "y"\n')
    assert source_digest(a) == source_digest(b) != source_digest(c)


def test_the_table4_job_runs_the_table4_module_and_no_training_code() -> None:
    names = _names(module_closure(SCRIPTS / "table4.py", PACKAGE), PACKAGE)
    assert "reporting/table4.py" in names
    assert not any(n.startswith("training/") for n in names)


def test_the_training_jobs_run_the_training_loop() -> None:
    for script in ("train_patch_classifier.py", "train_whole_image.py", "transfer_cell.py"):
        assert "training/loop.py" in _names(module_closure(SCRIPTS / script, PACKAGE), PACKAGE)
