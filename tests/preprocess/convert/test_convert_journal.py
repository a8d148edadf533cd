"""Resuming the convert stage: fingerprints, the append-only journal, exact resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
from helpers.convert_cases import make_dataset as _dataset
from helpers.convert_cases import run_convert as _run

import e2e_mammo.preprocess.convert.worker as convert_worker
from e2e_mammo.preprocess.convert.journal import Journal, fingerprint, load_journal, reusable
from e2e_mammo.preprocess.convert.worker import ImageTask


def _task(tmp_path: Path, **changes) -> ImageTask:
    dicom = tmp_path / "a.dcm"
    if not dicom.exists():
        dicom.write_bytes(b"x")
    task = ImageTask("A", str(dicom), str(tmp_path / "A.png"), (8, 6), "minmax")
    return dataclasses.replace(task, **changes)


def test_fingerprint_changes_with_settings_and_source(tmp_path):
    base = fingerprint(_task(tmp_path))
    assert fingerprint(_task(tmp_path)) == base
    assert fingerprint(_task(tmp_path, size=(8, 8))) != base
    assert fingerprint(_task(tmp_path, intensity="stored")) != base
    (tmp_path / "a.dcm").write_bytes(b"longer")
    assert fingerprint(_task(tmp_path)) != base


def test_journal_ignores_a_row_cut_short_and_starts_a_new_line(tmp_path):
    path = tmp_path / "journal.csv"
    task = _task(tmp_path, fingerprint="f1")
    journal = Journal(path)
    journal.append(task, {"image_id": "A", "error": None, "image": {}, "rois": []})
    journal.close()
    with path.open("a") as fh:
        fh.write('B,f2,"{""image_id"": ""B"", ""err')  # killed mid-row
    journal = Journal(path)
    journal.append(dataclasses.replace(task, image_id="C"), {"image_id": "C", "error": None})
    journal.close()
    done = load_journal(path)
    assert sorted(done) == ["A", "C"] and done["A"][0] == "f1"
    assert path.read_text().splitlines()[-1].startswith("C,f1,")


def test_reusable_needs_same_fingerprint_and_existing_png(tmp_path):
    task = _task(tmp_path, fingerprint="f1")
    entry = ("f1", {"image_id": "A", "error": None, "rois": []})
    assert not reusable(task, entry)  # PNG missing
    Path(task.png_path).write_bytes(b"png")
    assert reusable(task, entry)
    assert not reusable(task, ("f0", entry[1]))
    assert not reusable(task, None)


def test_resume_redoes_only_missing_image(tmp_path, monkeypatch):
    images_csv, rois_csv = _dataset(tmp_path, n=3)
    out = tmp_path / "out"
    first = _run(images_csv, out, rois_csv=rois_csv)
    (out / "manifest.csv").unlink()
    removed = Path(first.manifest.png_path[1])
    removed.unlink()

    calls: list[str] = []
    real = convert_worker.convert_image

    def counting(task):
        calls.append(task.image_id)
        return real(task)

    monkeypatch.setattr(convert_worker, "convert_image", counting)
    second = _run(images_csv, out, rois_csv=rois_csv)
    assert calls == ["Calc-Training_P_00001_LEFT_CC"]
    assert removed.is_file()
    pd.testing.assert_frame_equal(first.manifest, second.manifest)
    pd.testing.assert_frame_equal(first.masks, second.masks)
    assert (out / "manifest.csv").is_file()

    calls.clear()
    _run(images_csv, out, rois_csv=rois_csv, intensity="stored")  # new settings: redo all
    assert len(calls) == 3
