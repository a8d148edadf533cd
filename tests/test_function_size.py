"""No function of the package passes 60 lines or 8 parameters: a longer one is several
functions, a longer parameter list wants a typed settings object (as torchvision passes
``args``)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES, MAX_PARAMETERS = 60, 8
SOURCES = sorted(
    [*(ROOT / "src" / "e2e_mammo").rglob("*.py"), *(ROOT / "workflow" / "scripts").glob("*.py")]
)


def parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Parameters a caller passes (``self``/``cls`` not counted; ``*args``, ``**kw`` one each)."""
    args = node.args
    names = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    count = len(names) + bool(args.vararg) + bool(args.kwarg)
    return count - bool(names and names[0].arg in ("self", "cls"))


def oversized(path: Path) -> list[str]:
    """``name:line (N lines, M parameters)`` of each function of ``path`` over a limit."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_LINES or parameters(node) > MAX_PARAMETERS:
                found.append(
                    f"{node.name}:{node.lineno} ({lines} lines, {parameters(node)} parameters)"
                )
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_stay_short(path):
    assert oversized(path) == []


def test_the_check_counts_lines_and_parameters(tmp_path):
    source = tmp_path / "m.py"
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    source.write_text(
        f"def long():\n{body}\n\ndef wide(self, a, b, c, d, e, f, g, h, *i):\n    pass\n"
    )
    assert oversized(source) == [
        f"long:1 ({MAX_LINES + 1} lines, 0 parameters)",
        "wide:63 (2 lines, 9 parameters)",
    ]
