"""Model bundles: a trained whole-image classifier, or an ensemble of them, with everything
``e2e-mammo predict`` needs to score a new mammogram and a record of where it came from.

A **model bundle** is a whole-image training job's ``model.pt`` (format 2 of
:mod:`e2e_mammo.models.saved`: ``kind``, ``spec``, ``state_dict``) with three more keys:

* ``preprocess``: what an image goes through before the network, as the pipeline did it:
  ``image_size`` [H, W] (``cv2.INTER_AREA``, aspect ratio forced), ``intensity`` (the
  converter's ``minmax`` or ``stored`` mapping to 16 bits after the DICOM LUTs and
  MONOCHROME1 inversion), ``png_scale`` (16-bit value -> the 0-255 scale) and
  ``input_transform`` (the network's own first module: training-set mean, scale, std);
* ``provenance``: ``source`` (e.g. ``table2/r50-s10-res1024x2``), ``data`` (``synthetic`` or
  ``real``), ``settings`` (everything that changed the result), ``data_files`` (MD5 of the
  split table and the converted-data manifest it trained on), ``metrics`` (validation and test),
  ``git_commit``, ``created`` and ``versions``;
* ``heatmap_head``: the 1x1 classifier (``weight`` (5, C), ``bias`` (5,), ``window``) whose
  softmax over a patch-sized window of the backbone's feature map is the paper's patch heatmap:
  the model's own heatmap layer when it has one, else its patch classifier's head
  (``source`` says which).

An **ensemble bundle** (``kind: "ensemble"``) holds its members' bundles whole (no file
references: one file is the whole model), their common ``preprocess`` and its own
``provenance`` (members, selection, test metrics, operating point).

:func:`load_bundle` reads either kind and never needs ``params.yaml`` or the training data.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import e2e_mammo
from e2e_mammo.constants import RESCALE_16BIT
from e2e_mammo.errors import BundleError
from e2e_mammo.io import atomic_write
from e2e_mammo.models.heatmap import PatchHeatmap
from e2e_mammo.models.saved import (
    FORMAT_VERSION,
    READABLE_FORMATS,
    model_from_payload,
    read_payload,
    save_model,
)
from e2e_mammo.provenance import file_md5, git_commit

WHOLE_IMAGE = "whole_image_classifier"
ENSEMBLE = "ensemble"
#: The preprocessing keys every member of an ensemble must share.
SHARED_PREPROCESS = ("image_size", "intensity", "png_scale")


@dataclass
class Member:
    """One network of a bundle: its name, the model (eval mode) and its heatmap layer."""

    name: str
    model: nn.Module
    heatmap: PatchHeatmap | None
    spec: dict[str, Any]
    provenance: dict[str, Any]
    heatmap_source: str = ""


@dataclass
class Bundle:
    """A loaded bundle: one member (a model bundle) or several (an ensemble bundle)."""

    path: Path
    kind: str
    members: list[Member]
    preprocess: dict[str, Any]
    provenance: dict[str, Any]

    @property
    def image_size(self) -> tuple[int, int]:
        height, width = self.preprocess["image_size"]
        return int(height), int(width)


def preprocess_record(image_size: Sequence[int], intensity: str, model: nn.Module) -> dict:
    """The ``preprocess`` entry of a model trained on ``image_size`` images converted with
    ``intensity``; the input transform is read from ``model`` itself."""
    norm = getattr(model, "input_norm", None)
    if norm is None:
        raise ValueError("the model has no input transform (input_norm)")
    return {
        "image_size": [int(s) for s in image_size],
        "intensity": str(intensity),
        "resize": "cv2.INTER_AREA to image_size, aspect ratio not kept (as the converter)",
        "png_scale": RESCALE_16BIT,
        "input_transform": norm.describe(),
    }


def provenance_record(
    source: str,
    *,
    data: str,
    settings: Mapping[str, Any],
    data_files: Mapping[str, str | Path],
    metrics: Mapping[str, Any],
) -> dict[str, Any]:
    """The ``provenance`` entry of a bundle trained by job ``source`` on ``data``
    (``synthetic``/``real``) from ``data_files`` (name -> path, hashed with MD5)."""
    return {
        "source": str(source),
        "data": str(data),
        "settings": _plain(settings),
        "data_files": {name: file_md5(path) for name, path in data_files.items()},
        "metrics": _plain(metrics),
        "git_commit": git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    return {
        "e2e_mammo": e2e_mammo.__version__,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
    }


def _plain(value: Any) -> Any:
    """JSON-like plain types (what ``torch.load(weights_only=True)`` accepts)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


PATCH_HEAD_SOURCE = "the patch classifier's head on this model's (fine-tuned) backbone features"


def _head_entry(weight: torch.Tensor, bias: torch.Tensor | None, window: int, source: str):
    return {
        "weight": weight.detach().cpu().clone(),
        "bias": None if bias is None else bias.detach().cpu().clone(),
        "window": int(window),
        "source": source,
    }


def linear_head_entry(head: nn.Linear, window: int, source: str = PATCH_HEAD_SOURCE) -> dict:
    """A ``heatmap_head`` entry from a patch classifier's head (Linear(C, 5))."""
    return _head_entry(head.weight, head.bias, window, source)


def heatmap_head(model: nn.Module, fallback: Mapping[str, Any] | None) -> dict | None:
    """The ``heatmap_head`` entry of ``model``: its own heatmap layer (trained with it) when it
    has one, else ``fallback`` (a :func:`linear_head_entry` of its patch classifier)."""
    own = getattr(model, "heatmap", None)
    if own is None:
        return dict(fallback) if fallback else None
    conv = own.conv
    weight = conv.weight.reshape(conv.out_channels, conv.in_channels)
    return _head_entry(weight, conv.bias, own.window, "the model's heatmap layer")


def save_bundle(
    path: str | Path,
    model: nn.Module,
    spec: Mapping[str, Any],
    *,
    preprocess: Mapping[str, Any],
    provenance: Mapping[str, Any],
    heatmap: Mapping[str, Any] | None,
) -> Path:
    """Write a whole-image model bundle (``model.pt``) atomically to ``path``."""
    extra = {
        "preprocess": dict(preprocess),
        "provenance": dict(provenance),
        "heatmap_head": heatmap,
    }
    return save_model(path, model, WHOLE_IMAGE, spec, extra)


def save_ensemble_bundle(
    path: str | Path, members: Sequence[tuple[str, Path]], provenance: Mapping[str, Any]
) -> Path:
    """Write an ensemble bundle of the model bundles ``members`` ((name, path), in order)."""
    payloads = []
    for name, member_path in members:
        payload = read_payload(member_path)
        _check_model_payload(member_path, payload)
        payloads.append({**payload, "name": name})
    preprocess = _shared_preprocess(path, payloads)
    bundle = {
        "format": FORMAT_VERSION,
        "kind": ENSEMBLE,
        "members": payloads,
        "preprocess": preprocess,
        "provenance": {
            **_plain(provenance),
            "git_commit": git_commit(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": _versions(),
        },
    }
    return atomic_write(path, lambda tmp: torch.save(bundle, tmp))


def _shared_preprocess(path: str | Path, payloads: Sequence[Mapping[str, Any]]) -> dict:
    if not payloads:
        raise BundleError(path, "an ensemble needs at least one member")
    first = payloads[0]["preprocess"]
    for payload in payloads[1:]:
        for key in SHARED_PREPROCESS:
            if payload["preprocess"][key] != first[key]:
                raise BundleError(
                    path,
                    f"members disagree on {key}: {payloads[0].get('name')} has {first[key]}, "
                    f"{payload.get('name')} has {payload['preprocess'][key]}",
                )
    return {k: first[k] for k in (*SHARED_PREPROCESS, "resize")}


def _check_model_payload(path: str | Path, payload: Mapping[str, Any]) -> None:
    kind = payload.get("kind")
    if kind != WHOLE_IMAGE:
        raise BundleError(
            path,
            f"a {kind}, not a whole-image model: predict needs a whole-image "
            "model's or an ensemble's bundle",
        )
    if not payload.get("preprocess"):
        raise BundleError(
            path,
            "a model saved before bundles (no preprocessing record): rerun its training job "
            "with this version of e2e-mammo (snakemake --forcerun <rule>)",
        )


def _heatmap(head: Mapping[str, Any] | None) -> PatchHeatmap | None:
    if not head:
        return None
    weight = head["weight"]
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=head.get("bias") is not None)
    with torch.no_grad():
        linear.weight.copy_(weight)
        if head.get("bias") is not None:
            linear.bias.copy_(head["bias"])
    return PatchHeatmap(linear, int(head["window"]), "softmax").eval()


def _member(path: Path, payload: Mapping[str, Any], name: str) -> Member:
    """Rebuild one member; any failure is a :class:`BundleError` naming the file and member."""
    _check_model_payload(path, payload)
    try:
        model, spec = model_from_payload(payload)
        heatmap = _heatmap(payload.get("heatmap_head"))
    except Exception as exc:
        raise BundleError(path, f"cannot rebuild {name}: {type(exc).__name__}: {exc}") from None
    provenance = dict(payload.get("provenance") or {})
    source = (payload.get("heatmap_head") or {}).get("source", "none")
    return Member(name, model, heatmap, spec, provenance, source)


def _payload(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BundleError(path, "no such file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BundleError(path, f"not a model bundle (unreadable: {type(exc).__name__})") from None
    if not isinstance(payload, dict) or "format" not in payload:
        raise BundleError(path, "not an e2e-mammo model bundle")
    found = payload["format"]
    if found not in READABLE_FORMATS:
        newer = isinstance(found, int) and found > FORMAT_VERSION
        hint = "upgrade e2e-mammo" if newer else "retrain it with this version"
        raise BundleError(
            path,
            f"bundle format {found!r} is not one this e2e-mammo {e2e_mammo.__version__} reads "
            f"({', '.join(map(str, READABLE_FORMATS))}): {hint}",
        )
    return payload


def load_bundle(path: str | Path) -> Bundle:
    """Load a model or ensemble bundle (CPU, eval mode).

    Raises:
        BundleError: a missing or unreadable file, a format this version does not read, a
            patch classifier, a model saved before bundles, a network that cannot be rebuilt
            from its description, or members that disagree on preprocessing.
    """
    path = Path(path)
    payload = _payload(path)
    if payload.get("kind") == ENSEMBLE:
        items = payload.get("members")
        if not isinstance(items, list) or not items:
            raise BundleError(path, "an ensemble bundle without members")
        for item in items:
            if item.get("format") not in READABLE_FORMATS:
                raise BundleError(path, f"member {item.get('name')}: format {item.get('format')!r}")
        members = [_member(path, item, str(item.get("name"))) for item in items]
        preprocess = _shared_preprocess(path, items)
        return Bundle(path, ENSEMBLE, members, preprocess, dict(payload.get("provenance") or {}))
    provenance = dict(payload.get("provenance") or {})
    member = _member(path, payload, str(provenance.get("source", path.parent.name)))
    return Bundle(path, WHOLE_IMAGE, [member], dict(payload["preprocess"]), provenance)


__all__ = [
    "ENSEMBLE",
    "WHOLE_IMAGE",
    "Bundle",
    "BundleError",
    "Member",
    "heatmap_head",
    "linear_head_entry",
    "load_bundle",
    "preprocess_record",
    "provenance_record",
    "save_bundle",
    "save_ensemble_bundle",
]
