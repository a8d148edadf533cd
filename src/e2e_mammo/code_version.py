"""The code a pipeline job runs, as one digest: Snakemake's ``params`` carry it, so that an edit
of the package reruns exactly the jobs whose code it changes (and what depends on their outputs).

A job runs its adapter script (``workflow/scripts/*.py``) and every module of the ``e2e_mammo``
package that the script imports, transitively. :func:`module_closure` follows the ``import`` and
``from ... import`` statements anywhere in a module (imports inside functions included, since the
package imports its heavy parts late), with the ``__init__`` of every package on the way.
:func:`source_digest` hashes a file's syntax tree with its docstrings removed, so that an edit
of a comment, a docstring or the layout changes nothing.

Torch-free and read from the files (nothing is imported): the workflow's parse calls it for
every rule, through one cache.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

PACKAGE = "e2e_mammo"
#: The digest's length in hex characters (64 bits: what a params record needs).
DIGEST_CHARS = 16


def module_file(name: str, package_dir: Path) -> Path | None:
    """The source file of module ``name`` (``e2e_mammo.a.b``) under ``package_dir`` (the
    ``e2e_mammo`` folder): ``a/b.py`` or ``a/b/__init__.py``; ``None`` when there is none."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_dir.joinpath(*parts[1:])
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _stamp(path: Path) -> tuple[Path, int, int]:
    """A cache key that changes with the file (one parse per file and version)."""
    stat = path.stat()
    return path, stat.st_mtime_ns, stat.st_size


@cache
def _parse(stamp: tuple[Path, int, int]) -> ast.Module:
    path = stamp[0]
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise ValueError(f"{path}: not valid Python: {exc}") from exc


def _tree(path: Path) -> ast.Module:
    return _parse(_stamp(path))


def _from_import(node: ast.ImportFrom, here: str, package_dir: Path) -> set[str]:
    """The package modules one ``from X import a, b`` statement in module ``here`` runs."""
    if node.level:  # relative: resolved against the importing module's package
        anchor = here.split(".")[: -node.level] if here else []
        base = ".".join([*anchor, node.module] if node.module else anchor)
    else:
        base = node.module or ""
    if base.split(".")[0] != PACKAGE:
        return set()
    found = {base}
    for alias in node.names:
        if module_file(f"{base}.{alias.name}", package_dir) is not None:
            found.add(f"{base}.{alias.name}")
    return found


def _is_type_checking(node: ast.AST) -> bool:
    """An ``if TYPE_CHECKING:`` block (its imports never run)."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
    return name == "TYPE_CHECKING"


def _run_nodes(tree: ast.AST):
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:`` (their ``else`` kept)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if _is_type_checking(node):
            todo += node.orelse
            continue
        todo += ast.iter_child_nodes(node)


def imported_modules(path: Path, here: str, package_dir: Path) -> set[str]:
    """The ``e2e_mammo`` modules that the file ``path`` (module ``here``, ``""`` for a script)
    imports anywhere in its body (imports under ``if TYPE_CHECKING:`` never run and do not
    count), with their parent packages."""
    return set(_imported(_stamp(Path(path)), here, package_dir))


@cache
def _imported(stamp: tuple[Path, int, int], here: str, package_dir: Path) -> frozenset[str]:
    found: set[str] = set()
    for node in _run_nodes(_tree(stamp[0])):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom):
            found |= _from_import(node, here, package_dir)
    parents = {".".join(n.split(".")[:i]) for n in found for i in range(1, n.count(".") + 1)}
    return frozenset(n for n in found | parents if module_file(n, package_dir) is not None)


def module_closure(script: Path, package_dir: Path) -> list[Path]:
    """The package's source files that ``script`` runs, transitively, sorted."""
    seen: set[str] = set()
    todo = sorted(imported_modules(script, "", package_dir))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name, package_dir)
        here = name if path.name != "__init__.py" else f"{name}.__init__"
        todo += sorted(imported_modules(path, here, package_dir) - seen)
    return sorted(module_file(n, package_dir) for n in seen)


def _strip_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            if isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def source_digest(path: Path) -> str:
    """SHA-256 of a Python file's code: its syntax tree without docstrings (comments and layout
    never reach the tree)."""
    return _digest(_stamp(Path(path)))


@cache
def _digest(stamp: tuple[Path, int, int]) -> str:
    path = stamp[0]
    tree = _strip_docstrings(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def code_version(script: Path, package_dir: Path, extra: Iterable[Path] = ()) -> str:
    """One digest of ``script``'s code and of every package module it runs (and of ``extra``
    files), each named by its path relative to ``package_dir``'s parent."""
    root = package_dir.parent
    files = [Path(script), *module_closure(Path(script), package_dir), *map(Path, extra)]
    lines = []
    for path in files:
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        lines.append(f"{name} {source_digest(path)}")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:DIGEST_CHARS]
