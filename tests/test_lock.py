"""The locked install: requirements.lock pins every declared dependency with hashes, and the
conda environment is generated from it (no drift)."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK_TEXT = (ROOT / "requirements.lock").read_text()


def _conda_env_module():
    spec = importlib.util.spec_from_file_location("conda_env", ROOT / "tools/conda_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pins() -> dict[str, str]:
    """``{canonical name: version}`` of the lock's lines (markers dropped)."""
    pins = {}
    for line in _conda_env_module().locked_requirements(LOCK_TEXT):
        name, _, version = line.split(";")[0].strip().partition("==")
        pins[canonicalize_name(name)] = version
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    return [Requirement(s) for s in specs]


def test_every_declared_dependency_is_locked_at_a_version_it_allows() -> None:
    pins = _pins()
    wrong = {
        str(req): pins.get(canonicalize_name(req.name), "missing")
        for req in _declared()
        if not req.specifier.contains(pins.get(canonicalize_name(req.name), "0"), prereleases=True)
    }
    assert not wrong, f"requirements.lock disagrees with pyproject.toml (run `make lock`): {wrong}"


def test_every_locked_requirement_is_exact_and_hashed() -> None:
    blocks = LOCK_TEXT.split("\n")
    requirement_lines = [i for i, line in enumerate(blocks) if line and line[0] not in " #"]
    unhashed = [blocks[i] for i in requirement_lines if "--hash=sha256:" not in blocks[i + 1]] + [
        blocks[i] for i in requirement_lines if "==" not in blocks[i]
    ]
    assert requirement_lines and not unhashed, unhashed


def test_conda_environment_is_generated_from_the_lock() -> None:
    committed = (ROOT / "envs/e2e-mammo.yaml").read_text()
    assert committed == _conda_env_module().render(LOCK_TEXT), (
        "envs/e2e-mammo.yaml drifted from requirements.lock: run `python tools/conda_env.py`"
    )


def test_conda_environment_installs_this_checkout_last() -> None:
    rendered = _conda_env_module().render(LOCK_TEXT)
    assert rendered.rstrip().endswith("- -e ..")
    assert "      - torch==2.14.1\n" in rendered
