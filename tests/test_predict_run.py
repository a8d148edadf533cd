"""``e2e-mammo predict`` end to end: outputs, failures, exit status, no identifiers, resume."""

from __future__ import annotations

import contextlib
import io
import json
import os

import pandas as pd
import pytest
from predict_cases import (
    PATIENT_ID,
    PATIENT_NAME,
    mammogram,
    write_mammogram_dicom,
    write_png,
)

from e2e_mammo.cli import main
from e2e_mammo.predict.run import PredictOptions, predict


@pytest.fixture(scope="module")
def bundle(predict_bundles):
    return predict_bundles["ensemble"]


STUDY_UID, SOP_UID = "1.2.826.0.1.3680043.8.498.777", "1.2.826.0.1.3680043.8.498.778"


def _good_inputs(root):
    write_png(root / "1_L_CC.png", mammogram(1))
    write_png(root / "1_R_CC.png", mammogram(2))
    write_mammogram_dicom(
        root / "clinic" / "a.dcm",
        mammogram(3),
        image_laterality="L",
        view_position="MLO",
        study_uid=STUDY_UID,
        sop_instance_uid=SOP_UID,
    )
    return root


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory, bundle):
    root = _good_inputs(tmp_path_factory.mktemp("in"))
    write_mammogram_dicom(root / "ct.dcm", mammogram(4), modality="CT")
    write_png(root / "tiny.png", mammogram(5, (10, 8)))
    out = root.parent / "out"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main(["predict", str(root), "--out", str(out), "--model", str(bundle), "--quiet"])
    return code, root, out, stderr.getvalue()


def test_some_failures_exit_with_1_and_are_listed(mixed_run):
    code, root, out, _ = mixed_run
    failures = pd.read_csv(out / "failures.csv")
    assert code == 1
    assert failures["file"].tolist() == [str(root / "ct.dcm"), str(root / "tiny.png")]
    assert "Modality is 'CT'" in failures["reason"].iloc[0]


def test_scored_images_have_rows_heatmaps_and_breasts(mixed_run):
    _, _, out, _ = mixed_run
    images = pd.read_csv(out / "image_predictions.csv", keep_default_na=False)
    breasts = pd.read_csv(out / "breast_predictions.csv")
    assert images["image_index"].tolist() == ["1_L_CC", "1_R_CC", "clinic/a"]
    assert images[["laterality", "view"]].values.tolist() == [
        ["L", "CC"],
        ["R", "CC"],
        ["L", "MLO"],
    ]
    assert images["malignant_pred"].between(0, 1).all()
    assert all((out / h).is_file() for h in images["heatmap"])
    assert breasts["exam"].tolist() == ["1", "study-1"]


def test_summary_counts_and_warns_about_a_synthetic_model(mixed_run):
    _, _, out, _ = mixed_run
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["inputs"], summary["scored"], summary["failed"]) == (5, 3, 2)
    assert summary["model_kind"] == "ensemble" and summary["members"] == ["m0", "m1"]
    assert "synthetic" in summary["warnings"][0]


def test_no_dicom_identifier_reaches_any_output_or_stderr(mixed_run):
    _, _, out, stderr = mixed_run
    secrets = (PATIENT_NAME, PATIENT_ID, STUDY_UID, SOP_UID)
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(s.encode() in data for s in secrets), path
    assert "Modality is 'CT'" in stderr and not any(s in stderr for s in secrets)


def test_a_dicom_without_a_study_falls_back_to_its_folder(tmp_path, bundle):
    import pydicom

    path = write_mammogram_dicom(tmp_path / "in" / "x" / "b.dcm", mammogram(6), laterality="R")
    ds = pydicom.dcmread(path)
    del ds.StudyInstanceUID
    ds.save_as(path)
    predict([tmp_path / "in"], tmp_path / "out", bundle)
    images = pd.read_csv(tmp_path / "out" / "image_predictions.csv")
    assert images[["exam", "laterality"]].values.tolist() == [["x", "R"]]


def test_all_scored_exits_with_0_and_a_rerun_resumes(tmp_path, bundle):
    root = _good_inputs(tmp_path / "in")
    out = tmp_path / "out"
    assert main(["predict", str(root), "--out", str(out), "--model", str(bundle), "--quiet"]) == 0
    first = pd.read_csv(out / "image_predictions.csv")
    changed = root / "1_R_CC.png"
    os.utime(changed, ns=(1, 1))  # an input changed since: scored again
    summary = predict([root], out, bundle)
    assert (summary["resumed"], summary["scored"]) == (2, 3)
    pd.testing.assert_frame_equal(pd.read_csv(out / "image_predictions.csv"), first)


def test_an_unusable_bundle_exits_with_2(tmp_path, capsys):
    write_png(tmp_path / "in" / "x.png", mammogram(0))
    code = main(
        [
            "predict",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "o"),
            "--model",
            str(tmp_path / "nope.pt"),
        ]
    )
    assert code == 2
    assert "nope.pt: no such file" in capsys.readouterr().err


def test_a_folder_without_images_exits_with_2(tmp_path, bundle, capsys):
    (tmp_path / "empty").mkdir()
    code = main(
        ["predict", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--model", str(bundle)]
    )
    assert code == 2 and "no DICOM or PNG files" in capsys.readouterr().err


def test_the_default_model_missing_says_how_to_make_it(tmp_path, monkeypatch, capsys):
    write_png(tmp_path / "x.png", mammogram(0))
    monkeypatch.chdir(tmp_path)
    assert main(["predict", "x.png", "--out", "o"]) == 2
    assert "made by `make run`" in capsys.readouterr().err


def test_many_images_show_progress_in_batches(tmp_path, bundle, capsys):
    for i in range(8):
        write_png(tmp_path / "in" / f"{i}_R_MLO.png", mammogram(i))
    options = PredictOptions(batch_size=3)
    summary = predict([tmp_path / "in"], tmp_path / "out", bundle, options)
    assert summary["scored"] == 8
    assert "predict: 8/8 (100%)" in capsys.readouterr().err
