import pytest
import torch

from e2e_mammo.models.patch_classifier import build_patch_classifier
from e2e_mammo.models.saved import load_model, save_model
from e2e_mammo.models.whole_image import build_whole_image_classifier, whole_image_spec


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


def test_whole_image_round_trip_rebuilds_the_same_network(tmp_path):
    torch.manual_seed(0)
    patch = build_patch_classifier("resnet50", mean=52.18)
    top = {"type": "resnet", "blocks": [[8, 8, 16, 1], [4, 4, 8, 1]]}
    model = build_whole_image_classifier(patch, "resnet50", top, (64, 48), 64)
    model.train()
    model(torch.rand(2, 1, 64, 48) * 255)  # move the BN running statistics off their init
    model.eval()
    spec = whole_image_spec("resnet50", top, (64, 48), 64)
    save_model(tmp_path / "model.pt", model, "whole_image_classifier", spec)
    loaded, saved_spec = load_model(tmp_path / "model.pt")
    x = torch.rand(2, 1, 64, 48) * 255
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert saved_spec["kind"] == "whole_image_classifier"
    assert saved_spec["top"] == top
    assert float(loaded.input_norm.mean) == pytest.approx(52.18)


def test_whole_image_round_trip_with_heatmap_and_fc_top(tmp_path):
    torch.manual_seed(0)
    patch = build_patch_classifier("vgg16", convention="caffe")
    top = {"type": "fc", "pool": 2, "units": [8, 4]}
    model = build_whole_image_classifier(
        patch, "vgg16", top, (64, 64), 32, heatmap_activation="relu"
    ).eval()
    spec = whole_image_spec("vgg16", top, (64, 64), 32, heatmap_activation="relu")
    save_model(tmp_path / "m.pt", model, "whole_image_classifier", spec)
    loaded, _ = load_model(tmp_path / "m.pt")
    assert loaded.heatmap.activation == "relu"
    assert loaded.input_norm.convention == "caffe"
    x = torch.rand(2, 1, 64, 64) * 255
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
