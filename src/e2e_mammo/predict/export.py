"""``e2e-mammo export``: a bundle as an ONNX or TorchScript file, for serving without e2e-mammo.

What is exported is the bundle's scoring network (:class:`~e2e_mammo.predict.scorer.BundleScorer`,
flip TTA inside unless ``tta=False``): input ``image`` (N, 1, H, W) float32, the grey image after
the bundle's preprocessing on the 0-255 scale (16-bit value x 255/65535); outputs
``malignant_prob`` (N,) and ``heatmap`` (N, h, w). The batch size N is dynamic; H, W are the
bundle's ``image_size``. The preprocessing and provenance travel in the file as JSON: ONNX
``metadata_props`` key ``e2e_mammo``, TorchScript extra file ``e2e_mammo.json``.

The ONNX graph is written by torch's ``torch.export``-based exporter (opset 18), which needs
the ``onnx`` and ``onnxscript`` packages: ``pip install 'e2e-mammo[export]'``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from e2e_mammo.errors import ConfigError
from e2e_mammo.io import atomic_path
from e2e_mammo.models.bundle import Bundle, load_bundle
from e2e_mammo.predict.scorer import bundle_scorer

log = logging.getLogger(__name__)
#: Loggers of the ONNX exporter's graph passes, which log every step at INFO.
QUIET_LOGGERS = ("onnx_ir", "onnxscript", "torch.onnx")
FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".ts.pt"}
METADATA_KEY = "e2e_mammo"
OPSET = 18
INPUT, OUTPUTS = "image", ("malignant_prob", "heatmap")


def export_metadata(bundle: Bundle, tta: bool) -> dict[str, Any]:
    """What the exported file says about its input, outputs and origin."""
    height, width = bundle.image_size
    return {
        "input": f"{INPUT}: (N, 1, {height}, {width}) float32, grey on the 0-255 scale after the "
        "preprocessing below",
        "outputs": {
            OUTPUTS[0]: "(N,) malignant probability (mean over members)",
            OUTPUTS[1]: "(N, h, w) malignancy heatmap in [0, 1]",
        },
        "tta": tta,
        "preprocess": bundle.preprocess,
        "members": [m.name for m in bundle.members],
        "provenance": {k: bundle.provenance.get(k) for k in ("source", "data", "git_commit")},
        "bundle": bundle.path.name,
    }


def _onnx(scorer: torch.nn.Module, example: torch.Tensor, tmp: Path, meta: dict) -> None:
    try:
        import onnx  # noqa: F401  (the exporter needs onnx and onnxscript)
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "ONNX export needs the onnx and onnxscript packages: pip install 'e2e-mammo[export]'"
        ) from exc
    batch = torch.export.Dim("batch", min=1)
    chatter = io.StringIO()  # the exporter's progress lines, kept for the debug log
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    with contextlib.redirect_stdout(chatter):
        program = torch.onnx.export(
            scorer,
            (example,),
            input_names=[INPUT],
            output_names=list(OUTPUTS),
            dynamic_shapes={"x": {0: batch}},
            opset_version=OPSET,
            dynamo=True,
            verbose=False,
        )
    log.debug("torch.onnx.export: %s", chatter.getvalue())
    program.model.metadata_props[METADATA_KEY] = json.dumps(meta)
    program.save(str(tmp))


def _torchscript(scorer: torch.nn.Module, example: torch.Tensor, tmp: Path, meta: dict) -> None:
    # The heatmap window is clipped to the feature map's size, which the trace fixes: right,
    # since H and W are the bundle's. torch deprecates TorchScript in favour of torch.export
    # (ONNX here); it still loads with torch.jit.load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)
        with torch.no_grad():
            traced = torch.jit.trace(scorer, (example,), check_trace=False)
        torch.jit.save(traced, str(tmp), _extra_files={f"{METADATA_KEY}.json": json.dumps(meta)})


def export_bundle(
    bundle_path: str | Path, fmt: str, out: str | Path | None = None, tta: bool = True
) -> Path:
    """Export the bundle at ``bundle_path`` as ``fmt`` (``onnx``/``torchscript``) to ``out``
    (default: beside the bundle, ``<name>.onnx`` or ``<name>.ts.pt``); returns the path."""
    if fmt not in FORMATS:
        raise ConfigError(f"format must be one of {FORMATS}, got {fmt!r}")
    bundle = load_bundle(bundle_path)
    out = Path(out) if out else bundle.path.with_suffix(SUFFIX[fmt])
    scorer = bundle_scorer(bundle, tta)
    example = torch.zeros(2, 1, *bundle.image_size)
    meta = export_metadata(bundle, tta)
    writer = _onnx if fmt == "onnx" else _torchscript
    with atomic_path(out) as tmp:
        writer(scorer, example, tmp, meta)
    return out
