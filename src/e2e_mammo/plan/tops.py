"""The top-layer spec of a whole-image row (see :mod:`e2e_mammo.models.top_layers`): its
checks and its cells in the paper's tables, without torch (the workflow's parse needs them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

TOP_TYPES = ("resnet", "vgg", "fc")
_ALLOWED_KEYS = {
    "resnet": {"type", "blocks", "heatmap"},
    "vgg": {"type", "blocks", "heatmap"},
    "fc": {"type", "pool", "units", "heatmap"},
}
_BLOCK_LEN = {"resnet": 4, "vgg": 2}
_BLOCK_FORM = {"resnet": "[L, M, N, K]", "vgg": "[N, K]"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_ints(value: Any, length: int | None, what: str) -> list[int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{what} must be a list of positive integers, got {value!r}")
    if length is not None and len(value) != length:
        raise ValueError(f"{what} must have {length} entries, got {list(value)!r}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    if not all(_is_int(v) and v > 0 for v in value):
        raise ValueError(f"{what} must be positive integers, got {list(value)!r}")
    return [int(v) for v in value]


def validate_top(spec: Mapping) -> None:
    """Check a top spec; raise ``ValueError`` naming the bad key or value."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"top spec must be a mapping, got {type(spec).__name__}")
    kind = spec.get("type")
    if kind not in TOP_TYPES:
        raise ValueError(f"top 'type' must be one of {TOP_TYPES}, got {kind!r}")
    unknown = set(spec) - _ALLOWED_KEYS[kind]
    if unknown:
        raise ValueError(f"unknown keys for a {kind!r} top: {sorted(map(str, unknown))}")
    heatmap = spec.get("heatmap", kind == "fc")
    if not isinstance(heatmap, bool):
        raise ValueError(f"top 'heatmap' must be true or false, got {heatmap!r}")
    if kind == "fc":
        if not heatmap:
            raise ValueError("an 'fc' top always sits on the heatmap: 'heatmap' cannot be false")
        if "pool" not in spec:
            raise ValueError("an 'fc' top needs 'pool' (the max-pool size P)")
        if not (_is_int(spec["pool"]) and spec["pool"] > 0):
            raise ValueError(f"top 'pool' must be a positive integer, got {spec['pool']!r}")
        if "units" not in spec:
            raise ValueError("an 'fc' top needs 'units' ([FC1, FC2])")
        _positive_ints(spec["units"], None, "top 'units'")
        return
    if "blocks" not in spec:
        raise ValueError(f"a {kind!r} top needs 'blocks'")
    blocks = spec["blocks"]
    if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Sequence) or not blocks:
        raise ValueError(f"top 'blocks' must be a non-empty list, got {blocks!r}")
    for i, block in enumerate(blocks):
        _positive_ints(block, _BLOCK_LEN[kind], f"top 'blocks'[{i}] ({_BLOCK_FORM[kind]})")


def uses_heatmap(spec: Mapping) -> bool:
    """Whether the top sits on the patch classifier's heatmap (always for ``fc``)."""
    return spec["type"] == "fc" or bool(spec.get("heatmap", False))


def describe_top(spec: Mapping) -> dict[str, str]:
    """The paper's table cells for ``spec``: ``{"block1": "[512-512-1024] x 2", ...}``
    (VGG ``"256 x 1"``), or for ``fc`` ``{"pool": "5x5", "fc1": "64", "fc2": "32"}``."""
    validate_top(spec)
    if spec["type"] == "fc":
        pool = int(spec["pool"])
        cells = {"pool": f"{pool}x{pool}"}
        cells.update({f"fc{i + 1}": str(int(u)) for i, u in enumerate(spec["units"])})
        return cells
    cells = {}
    for i, block in enumerate(spec["blocks"]):
        if spec["type"] == "resnet":
            l_, m_, n_, k_ = (int(v) for v in block)
            cells[f"block{i + 1}"] = f"[{l_}-{m_}-{n_}] x {k_}"
        else:
            n_, k_ = (int(v) for v in block)
            cells[f"block{i + 1}"] = f"{n_} x {k_}"
    return cells


#: The paper's four model families (section 3.1.4, Table 4's columns), named by patch classifier
#: and top layers: the ensemble has one member of each.
PAPER_FAMILIES = ("Resnet-Resnet", "Resnet-VGG", "VGG-VGG", "VGG-Resnet")
_FAMILY_PATCH = {"resnet50": "Resnet", "vgg16": "VGG"}
_FAMILY_TOP = {"resnet": "Resnet", "vgg": "VGG"}


def paper_family(arch: str, top: Mapping[str, Any] | None) -> str | None:
    """The paper's name for a model of patch classifier ``arch`` with ``top`` (``Resnet-VGG``:
    ResNet50 patch classifier, VGG top blocks), or ``None`` for tops that belong to no family
    (heatmap-inserted, heatmap + FC, the two-step baseline)."""
    top = top or {}
    patch = _FAMILY_PATCH.get(arch)
    kind = _FAMILY_TOP.get(top.get("type", ""))
    if patch is None or kind is None or top.get("heatmap"):
        return None
    return f"{patch}-{kind}"
