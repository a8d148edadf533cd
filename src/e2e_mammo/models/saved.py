"""A trained network on disk (``model.pt``): its weights and what is needed to rebuild it.

``{"format", "kind", "spec", "state_dict"}``, readable with ``torch.load(weights_only=True)``.
``spec`` names the builder's arguments (e.g. ``arch``, ``n_classes``; for a
``whole_image_classifier`` what :func:`~e2e_mammo.models.whole_image.whole_image_spec` gives)
and records the input transform
(:meth:`~e2e_mammo.models.input_transform.InputNormalization.describe`) and the class names, so
later stages and predict never need ``params.yaml`` to use the network.

Kinds: ``"patch_classifier"``, ``"whole_image_classifier"``.

Format 2 (this version) may add the keys of a model bundle (``preprocess``, ``provenance``,
``heatmap_head``: :mod:`e2e_mammo.models.bundle`); format 1 files (before bundles) still load.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from e2e_mammo.io import atomic_write
from e2e_mammo.models.patch_classifier import build_patch_classifier
from e2e_mammo.models.whole_image import build_whole_image_classifier

FORMAT_VERSION = 2
#: Formats :func:`load_model` reads.
READABLE_FORMATS = (1, 2)


def _build(kind: str, spec: Mapping[str, Any]) -> nn.Module:
    convention = spec.get("input_transform", {}).get("convention", "torchvision")
    if kind == "patch_classifier":
        return build_patch_classifier(
            spec["arch"], n_classes=int(spec["n_classes"]), convention=convention
        )
    if kind == "whole_image_classifier":
        # A random-init patch classifier only supplies the structure; load_state_dict then
        # restores every weight (input_norm buffers included).
        patch = build_patch_classifier(
            spec["arch"], n_classes=int(spec["patch_n_classes"]), convention=convention
        )
        return build_whole_image_classifier(
            patch,
            spec["arch"],
            spec["top"],
            tuple(int(s) for s in spec["image_size"]),
            int(spec["patch_size"]),
            n_classes=int(spec["n_classes"]),
            heatmap_activation=spec.get("heatmap_activation", "softmax"),
        )
    raise ValueError(f"unknown model kind {kind!r}")


def save_model(
    path: str | Path,
    model: nn.Module,
    kind: str,
    spec: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` (CPU tensors) with its ``kind`` and ``spec`` atomically to ``path``;
    ``extra`` adds further top-level keys (a bundle's ``preprocess``, ``provenance``, ...)."""
    norm = getattr(model, "input_norm", None)
    full_spec = dict(spec)
    if norm is not None:
        full_spec["input_transform"] = norm.describe()
    payload = {
        "format": FORMAT_VERSION,
        "kind": kind,
        "spec": full_spec,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **(extra or {}),
    }
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def read_payload(path: str | Path, formats: tuple[int, ...] = READABLE_FORMATS) -> dict[str, Any]:
    """The saved dict at ``path`` (CPU tensors), checked to be one of ``formats``."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: cannot read a saved model: {exc}") from exc
    found = payload.get("format") if isinstance(payload, dict) else None
    if found not in formats:
        raise ValueError(
            f"{path}: model format {found!r}, expected one of {', '.join(map(str, formats))}"
        )
    return payload


def model_from_payload(payload: Mapping[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the network of a saved dict; returns ``(model in eval mode, spec)``."""
    model = _build(payload["kind"], payload["spec"])
    model.load_state_dict(payload["state_dict"])
    return model.eval(), dict(payload["spec"], kind=payload["kind"])


def load_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the network saved at ``path``; returns ``(model in eval mode, spec)``."""
    return model_from_payload(read_payload(path))
