import pytest
import torch

from e2e_mammo.models import build_patch_classifier
from e2e_mammo.models.saved import load_model, save_model


def test_round_trip_rebuilds_the_same_network(tmp_path):
    torch.manual_seed(0)
    model = build_patch_classifier("resnet50", n_classes=5, mean=52.18).eval()
    save_model(
        tmp_path / "model.pt", model, "patch_classifier", {"arch": "resnet50", "n_classes": 5}
    )
    loaded, spec = load_model(tmp_path / "model.pt")
    x = torch.rand(2, 1, 32, 32) * 255
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x))
    assert spec["input_transform"]["mean"] == pytest.approx(52.18)
    assert spec["kind"] == "patch_classifier"


def test_unreadable_file_is_named(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"nope")
    with pytest.raises(ValueError, match="model.pt"):
        load_model(tmp_path / "model.pt")


def test_input_convention_survives_the_round_trip(tmp_path):
    model = build_patch_classifier("resnet50", n_classes=5, convention="caffe")
    save_model(tmp_path / "m.pt", model, "patch_classifier", {"arch": "resnet50", "n_classes": 5})
    loaded, spec = load_model(tmp_path / "m.pt")
    assert loaded.input_norm.convention == "caffe"
    assert spec["input_transform"]["convention"] == "caffe"
