"""Model and ensemble bundles: what they hold, how they load, what they refuse."""

from __future__ import annotations

import pytest
import torch
from helpers.predict_cases import SIZE

from e2e_mammo.errors import BundleError
from e2e_mammo.evaluation.tta import flip_tta_probs
from e2e_mammo.models.bundle import load_bundle, provenance_record, save_ensemble_bundle
from e2e_mammo.models.saved import read_payload, save_model
from e2e_mammo.provenance import file_md5


@pytest.fixture(scope="module")
def bundles(predict_bundles):
    return {"single": predict_bundles["m0"], "ensemble": predict_bundles["ensemble"]}


def test_model_bundle_holds_preprocessing_provenance_and_heatmap(bundles):
    payload = read_payload(bundles["single"])
    assert payload["preprocess"]["image_size"] == list(SIZE)
    assert payload["preprocess"]["intensity"] == "minmax"
    assert payload["preprocess"]["input_transform"]["mean"] == pytest.approx(40.0)
    assert payload["provenance"]["data"] == "synthetic"
    assert payload["provenance"]["git_commit"]
    assert payload["heatmap_head"]["weight"].shape[0] == 5


def test_loaded_model_scores_like_the_saved_network(bundles):
    bundle = load_bundle(bundles["single"])
    (member,) = bundle.members
    x = torch.rand(2, 1, *SIZE) * 255
    with torch.no_grad():
        reloaded = flip_tta_probs(member.model, x)[1]
    assert bundle.kind == "whole_image_classifier" and bundle.image_size == SIZE
    assert reloaded.shape == (2, 2) and torch.isfinite(reloaded).all()


def test_ensemble_bundle_holds_each_member_whole(bundles, tmp_path):
    ensemble = load_bundle(bundles["ensemble"])
    single = load_bundle(bundles["ensemble"].parent / "m0.pt")
    x = torch.rand(1, 1, *SIZE) * 255
    with torch.no_grad():
        a = ensemble.members[0].model(x)
        b = single.members[0].model(x)
    assert [m.name for m in ensemble.members] == ["m0", "m1"]
    assert torch.equal(a, b)
    assert ensemble.members[1].heatmap is not None  # its own heatmap layer


def test_provenance_hashes_the_data_files(tmp_path):
    table = tmp_path / "splits.csv"
    table.write_text("image_id,split\na,train\n")
    record = provenance_record(
        "t/r",
        data="real",
        settings={"k": (1, 2)},
        data_files={"splits": table},
        metrics={"val_auc": 0.5},
    )
    assert record["data_files"]["splits"] == file_md5(table)
    assert record["settings"] == {"k": [1, 2]}


def test_a_model_saved_before_bundles_is_refused_with_the_fix(tmp_path, bundles):
    payload = read_payload(bundles["single"])
    model = load_bundle(bundles["single"]).members[0].model
    old = save_model(tmp_path / "old.pt", model, "whole_image_classifier", payload["spec"])
    with pytest.raises(BundleError, match="before bundles.*rerun its training job"):
        load_bundle(old)


def test_a_newer_format_is_refused(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({"format": 99, "kind": "ensemble"}, path)
    with pytest.raises(BundleError, match="format 99.*upgrade e2e-mammo"):
        load_bundle(path)


@pytest.mark.parametrize("content", [b"", b"not a model"])
def test_a_file_that_is_no_bundle_is_refused(tmp_path, content):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(BundleError, match="x.pt: not a model bundle"):
        load_bundle(path)


def test_members_must_share_the_image_size(tmp_path, bundles, monkeypatch):
    other = tmp_path / "other.pt"
    payload = read_payload(bundles["single"])
    payload["preprocess"]["image_size"] = [128, 96]
    torch.save(payload, other)
    with pytest.raises(BundleError, match="disagree on image_size"):
        save_ensemble_bundle(tmp_path / "e.pt", [("a", bundles["single"]), ("b", other)], {})


def test_a_network_that_cannot_be_rebuilt_is_a_bundle_error(tmp_path, bundles):
    payload = read_payload(bundles["single"])
    payload["spec"]["top"] = {"type": "transformer"}
    torch.save(payload, tmp_path / "broken.pt")
    with pytest.raises(BundleError, match="broken.pt: cannot rebuild"):
        load_bundle(tmp_path / "broken.pt")
