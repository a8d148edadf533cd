"""``e2e-mammo export``: the exported file gives the bundle's scores and heatmaps."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from helpers.predict_cases import SIZE

from e2e_mammo.cli import main
from e2e_mammo.models.bundle import load_bundle
from e2e_mammo.predict.scorer import bundle_scorer


@pytest.fixture(scope="module")
def case(tmp_path_factory, predict_bundles):
    path = tmp_path_factory.mktemp("export") / "model.pt"
    path.symlink_to(predict_bundles["m1"])  # exports land beside the link
    torch.manual_seed(1)
    x = torch.rand(3, 1, *SIZE) * 255  # a batch of another size than the export's example
    with torch.no_grad():
        expected = bundle_scorer(load_bundle(path))(x)
    return path, x, expected


def test_onnx_gives_the_bundles_scores(case):
    import onnx
    import onnxruntime

    path, x, expected = case
    assert main(["export", str(path), "--format", "onnx"]) == 0
    out = path.with_suffix(".onnx")
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    score, heatmap = session.run(None, {"image": x.numpy()})
    np.testing.assert_allclose(score, expected[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(heatmap, expected[1].numpy(), atol=1e-5)
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["e2e_mammo"])["preprocess"]["image_size"] == list(SIZE)


def test_torchscript_gives_the_bundles_scores(case):
    path, x, expected = case
    out = path.parent / "model.ts.pt"
    assert main(["export", str(path), "--format", "torchscript", "--out", str(out)]) == 0
    score, heatmap = torch.jit.load(str(out))(x)
    torch.testing.assert_close(score, expected[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(heatmap, expected[1], atol=1e-5, rtol=0)
    with zipfile.ZipFile(out) as archive:
        assert any(name.endswith("extra/e2e_mammo.json") for name in archive.namelist())
