"""One image -> PNGs (errors as data), atomic PNG writes, and the worker pool."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from helpers.convert_cases import make_dataset as _dataset
from helpers.convert_cases import read_png
from helpers.convert_cases import run_convert as _run

import e2e_mammo.preprocess.convert.worker as convert_worker
from e2e_mammo.preprocess.convert.worker import ImageTask, convert_image, write_png


def test_write_png_leaves_only_the_target(tmp_path):
    array = np.arange(12, dtype=np.uint16).reshape(3, 4)
    write_png(array, str(tmp_path / "a.png"))
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]
    np.testing.assert_array_equal(read_png(tmp_path / "a.png"), array)


def test_convert_image_returns_dataset_error_as_data(tmp_path):
    task = ImageTask("A", str(tmp_path / "absent.dcm"), str(tmp_path / "A.png"), (8, 6), "minmax")
    result = convert_image(task)
    assert result["error"] == [str(tmp_path / "absent.dcm"), "file not found"]
    assert result["image"] == {} and not (tmp_path / "A.png").exists()


def test_convert_image_records_each_mask(tmp_path):
    images_csv, rois_csv = _dataset(tmp_path, n=1)
    dicom = pd.read_csv(images_csv).dicom_path[0]
    mask = pd.read_csv(rois_csv).mask_path[0]
    rois = [(0, mask, str(tmp_path / "m0.png")), (1, str(tmp_path / "no.dcm"), "unused.png")]
    task = ImageTask("A", dicom, str(tmp_path / "A.png"), (8, 6), "minmax", rois)
    result = convert_image(task)
    assert result["error"] is None and result["image"]["rows"] == 8
    assert [r["row"] for r in result["rois"]] == [0, 1]
    assert result["rois"][0]["values"]["mask_resize"] == "nearest"
    assert result["rois"][1]["error"][1] == "file not found"


def test_out_of_memory_on_one_image_excludes_it_and_the_batch_goes_on(tmp_path, monkeypatch):
    images_csv, rois_csv = _dataset(tmp_path, n=3)
    real = convert_worker.resize_image
    runs_out = iter([False, True, False])  # the second image of three

    def resize(image, size, intensity):
        if next(runs_out):
            raise MemoryError("Unable to allocate 1.21 GiB for an array")
        return real(image, size, intensity)

    monkeypatch.setattr(convert_worker, "resize_image", resize)
    res = _run(images_csv, tmp_path / "out", rois_csv=rois_csv)
    assert len(res.manifest) == 2 and len(res.masks) == 2
    reasons = {e.item: e.reason for e in res.exclusions}
    assert reasons["Calc-Training_P_00001_LEFT_CC"].startswith(
        "out of memory while resizing the 64x48 image (Unable to allocate 1.21 GiB"
    )
    assert "its image was excluded: out of memory" in reasons["Calc-Training_P_00001_LEFT_CC_1"]


def test_png_has_no_text_chunks(tmp_path):
    images_csv, _ = _dataset(tmp_path, n=1, rois=False)
    res = _run(images_csv, tmp_path / "out")
    data = Path(res.manifest.png_path[0]).read_bytes()
    for chunk in (b"tEXt", b"zTXt", b"iTXt"):
        assert chunk not in data
    assert b"Calc-Training" not in data


def test_parallel_matches_serial_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.setattr(convert_worker, "CONVERT_WHILE_STARTING", False)  # all images in workers
    images_csv, rois_csv = _dataset(tmp_path, n=5)
    serial = _run(images_csv, tmp_path / "one", rois_csv=rois_csv, threads=1)
    parallel = _run(images_csv, tmp_path / "two", rois_csv=rois_csv, threads=2)
    for name in ("manifest.csv", "masks.csv", "exclusions.csv"):
        a = (tmp_path / "one" / name).read_text().replace(str(tmp_path / "one"), "OUT")
        b = (tmp_path / "two" / name).read_text().replace(str(tmp_path / "two"), "OUT")
        assert a == b
    pngs = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.png"))
    assert len(pngs) == 10
    for rel in pngs:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()
    assert len(serial.manifest) == len(parallel.manifest) == 5


def test_parallel_from_unguarded_script(tmp_path):
    """Workers must not re-run the caller's script (Snakemake ``script:`` files have no guard)."""
    images_csv, _ = _dataset(tmp_path, n=3, rois=False)
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from e2e_mammo.preprocess.convert.stage import convert_dataset\n"
        f"res = convert_dataset({str(images_csv)!r}, {str(tmp_path / 'out')!r}, size=(32, 24),"
        " threads=2, progress=False)\n"
        "print('converted', len(res.manifest))\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("converted") == 1 and "converted 3" in done.stdout
