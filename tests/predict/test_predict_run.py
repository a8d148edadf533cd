"""``e2e-mammo predict`` end to end: outputs, failures, exit status, no identifiers, resume."""

from __future__ import annotations

import contextlib
import io
import json
import os

import pandas as pd
import pytest
from helpers.predict_cases import (
    PATIENT_ID,
    PATIENT_NAME,
    deflate_bomb,
    mammogram,
    png_claiming,
    write_mammogram_dicom,
    write_png,
)

from e2e_mammo.cli import main
from e2e_mammo.io import read_table
from e2e_mammo.predict.gating import DICOMDIR_CLASS
from e2e_mammo.predict.names import NAME_KEY_ENV
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


# --- hostile inputs: one input never stops the batch, nothing unsafe is written ---------------


def _run(root, out, bundle, *extra) -> int:
    with contextlib.redirect_stderr(io.StringIO()):
        return main(
            ["predict", str(root), "--out", str(out), "--model", str(bundle), "--quiet", *extra]
        )


def test_a_name_that_is_not_utf8_is_scored_and_written_printable(tmp_path, bundle):
    name = os.fsdecode("Müller_R_MLO.png".encode("latin-1"))
    os.rename(write_png(tmp_path / "in" / "a.png", mammogram(0)), tmp_path / "in" / name)
    assert _run(tmp_path / "in", tmp_path / "out", bundle) == 0
    images = pd.read_csv(tmp_path / "out" / "image_predictions.csv", encoding="utf-8")
    assert images["image_index"].tolist() == ["M\\xfcller_R_MLO"]
    assert images["laterality"].tolist() == ["R"]


def test_a_file_deleted_during_the_batch_fails_alone(tmp_path, bundle, monkeypatch):
    import e2e_mammo.predict.run as run_module

    root = _good_inputs(tmp_path / "in")
    real = run_module.read_input

    def read_and_delete(item, *args):
        (root / "1_R_CC.png").unlink(missing_ok=True)  # gone before its turn comes
        return real(item, *args)

    monkeypatch.setattr(run_module, "read_input", read_and_delete)
    summary = predict([root], tmp_path / "out", bundle)
    failures = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert (summary["scored"], summary["failed"]) == (2, 1)
    assert failures["reason"].tolist() == ["the file disappeared during the run"]


def _float_dicom(path, nan_at):
    import pydicom

    ds = pydicom.dcmread(write_mammogram_dicom(path, mammogram(7)))
    pixels = ds.pixel_array.astype("<f4")
    pixels[nan_at] = float("nan")
    del ds.PixelData
    ds.BitsAllocated = 32
    del ds.BitsStored
    ds.FloatPixelData = pixels.tobytes()
    ds.save_as(path)
    return path


def test_nan_pixels_anywhere_are_refused(tmp_path, bundle):
    _float_dicom(tmp_path / "in" / "origin.dcm", (0, 0))
    _float_dicom(tmp_path / "in" / "block.dcm", (slice(40, 60), slice(30, 50)))
    assert _run(tmp_path / "in", tmp_path / "out", bundle) == 1
    failures = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert failures["reason"].str.contains("non-finite pixel").all() and len(failures) == 2


def test_formula_names_are_written_as_text(tmp_path, bundle):
    for name in ("=HYPERLINK(1)", "+cmd", "-R_CC", "@SUM(A1)"):
        write_png(tmp_path / "in" / f"{name}.png", mammogram(1))
    assert _run(tmp_path / "in", tmp_path / "out", bundle) == 0
    for table in ("image_predictions.csv", "breast_predictions.csv"):
        lines = (tmp_path / "out" / table).read_text().splitlines()[1:]
        assert lines and not any(
            line.lstrip('"').startswith(("=", "+", "-", "@")) for line in lines
        )
    assert read_table(tmp_path / "out" / "image_predictions.csv")["image_index"].tolist() == [
        "+cmd",
        "-R_CC",
        "=HYPERLINK(1)",
        "@SUM(A1)",
    ]


def test_a_dicomdir_and_a_structured_report_are_ignored_not_failed(tmp_path, bundle):
    root = _good_inputs(tmp_path / "in")
    write_mammogram_dicom(root / "DICOMDIR", mammogram(0), sop_class_uid=DICOMDIR_CLASS)
    write_mammogram_dicom(root / "report.dcm", mammogram(0), modality="SR")
    assert _run(root, tmp_path / "out", bundle) == 0
    ignored = pd.read_csv(tmp_path / "out" / "ignored.csv")
    assert ignored["file"].tolist() == [str(root / "DICOMDIR"), str(root / "report.dcm")]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (summary["status"], summary["ignored"], summary["failed"]) == ("complete", 2, 0)


def test_for_processing_images_are_scored_only_when_allowed(tmp_path, bundle):
    raw = {"PresentationIntentType": "FOR PROCESSING"}
    write_mammogram_dicom(tmp_path / "in" / "raw.dcm", mammogram(0), extra=raw)
    assert _run(tmp_path / "in", tmp_path / "a", bundle) == 1
    assert "FOR PROCESSING" in pd.read_csv(tmp_path / "a" / "failures.csv")["reason"][0]
    assert _run(tmp_path / "in", tmp_path / "b", bundle, "--allow-for-processing") == 0


def test_a_multi_frame_file_is_refused(tmp_path, bundle):
    write_mammogram_dicom(tmp_path / "in" / "tomo.dcm", mammogram(0), extra={"NumberOfFrames": 60})
    assert _run(tmp_path / "in", tmp_path / "out", bundle) == 1
    assert (
        "multi-frame image (60 frames)"
        in pd.read_csv(tmp_path / "out" / "failures.csv")["reason"][0]
    )


def test_rows_say_what_the_model_was_trained_on_and_flag_burned_in_text(tmp_path, bundle):
    burned = {"BurnedInAnnotation": "YES"}
    write_mammogram_dicom(tmp_path / "in" / "b.dcm", mammogram(0), extra=burned)
    write_png(tmp_path / "in" / "c.png", mammogram(1))
    predict([tmp_path / "in"], tmp_path / "out", bundle)
    images = pd.read_csv(tmp_path / "out" / "image_predictions.csv", keep_default_na=False)
    assert images["model_data"].tolist() == ["synthetic", "synthetic"]
    assert images["burned_in_annotation"].tolist() == ["YES", ""]


def test_a_run_that_dies_leaves_nothing_claiming_success(tmp_path, bundle, monkeypatch):
    import e2e_mammo.predict.run as run_module

    root = _good_inputs(tmp_path / "in")
    out = tmp_path / "out"
    predict([root], out, bundle)

    def killed(item, *args):
        raise SystemExit(137)  # as if the kernel killed the process on this input

    monkeypatch.setattr(run_module, "read_input", killed)
    os.utime(root / "1_L_CC.png", ns=(1, 1))
    with pytest.raises(SystemExit):
        predict([root], out, bundle)
    assert json.loads((out / "summary.json").read_text())["status"] == "running"
    assert not (out / "image_predictions.csv").exists()


def test_the_input_a_killed_run_died_on_is_skipped_then_retried_on_request(
    tmp_path, bundle, monkeypatch
):
    import e2e_mammo.predict.run as run_module

    root = _good_inputs(tmp_path / "in")
    out = tmp_path / "out"
    real = run_module.read_input

    def dies_on_r_cc(item, *args):
        if item.image_index == "1_R_CC":
            raise SystemExit(137)
        return real(item, *args)

    monkeypatch.setattr(run_module, "read_input", dies_on_r_cc)
    with pytest.raises(SystemExit):
        predict([root], out, bundle)
    monkeypatch.setattr(run_module, "read_input", real)
    summary = predict([root], out, bundle)
    failures = pd.read_csv(out / "failures.csv")
    assert (summary["scored"], summary["failed"]) == (2, 1)
    assert "died while reading or scoring" in failures["reason"][0]
    summary = predict([root], out, bundle, PredictOptions(retry_crashed=True))
    assert (summary["scored"], summary["failed"]) == (3, 0)


def test_hashed_names_leave_no_input_name_in_any_output(tmp_path, bundle, monkeypatch):
    monkeypatch.setenv(NAME_KEY_ENV, "a-secret-key-of-the-site")
    write_png(tmp_path / "in" / "Doe_Jane_4711" / "R_CC.png", mammogram(0))
    write_png(tmp_path / "in" / "Doe_Jane_4711" / "tiny.png", mammogram(1, (10, 8)))
    assert _run(tmp_path / "in", tmp_path / "out", bundle, "--hash-names") == 1
    for path in (tmp_path / "out").rglob("*"):
        assert "Doe" not in path.name and "tiny" not in path.name
        if path.is_file():
            data = path.read_bytes()
            assert b"Doe_Jane" not in data and b"tiny" not in data and b"a-secret" not in data
    images = pd.read_csv(tmp_path / "out" / "image_predictions.csv")
    assert images["laterality"].tolist() == ["R"]


def test_a_crash_exits_with_3(tmp_path, bundle, monkeypatch, capsys):
    import e2e_mammo.predict.run as run_module

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(run_module, "predict", broken)
    write_png(tmp_path / "in" / "x.png", mammogram(0))
    args = [str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--model", str(bundle)]
    assert main(["predict", *args]) == 3
    assert "crashed (internal error)" in capsys.readouterr().err


_PEAK = """
import resource, sys
from e2e_mammo.cli import main
code = main(sys.argv[1:])
print("PEAK", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, code)
"""


def _peak_mb(inputs, out, bundle) -> tuple[float, int]:
    """Peak resident memory (MB) and exit status of ``e2e-mammo predict`` in a subprocess."""
    import subprocess
    import sys

    args = ["predict", str(inputs), "--out", str(out), "--model", str(bundle), "--quiet"]
    proc = subprocess.run([sys.executable, "-c", _PEAK, *args], capture_output=True, text=True)
    peak, code = proc.stdout.split("PEAK")[1].split()
    return int(peak) / 1024, int(code)


@pytest.mark.slow
def test_size_bombs_are_refused_with_memory_bounded(tmp_path, bundle):
    write_png(tmp_path / "one" / "a.png", mammogram(0))
    png_claiming(tmp_path / "bombs" / "huge.png", 30000, 30000)
    deflate_bomb(tmp_path / "bombs" / "bomb.dcm", mammogram(0), 300 << 20)
    baseline, code = _peak_mb(tmp_path / "one", tmp_path / "o1", bundle)
    assert code == 0
    peak, code = _peak_mb(tmp_path / "bombs", tmp_path / "o2", bundle)
    reasons = pd.read_csv(tmp_path / "o2" / "failures.csv")["reason"].tolist()
    assert code == 1 and "inflates past" in reasons[0] and "over the limit" in reasons[1]
    assert peak - baseline < 100, (peak, baseline)  # MB: the bombs claim 0.9 and 0.3 GB
