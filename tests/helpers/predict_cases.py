"""Tiny model bundles and mammogram files for the predict and export tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from e2e_mammo.datasets.synth.dicom_writer import DicomHeader, write_dicom
from e2e_mammo.models.bundle import (
    heatmap_head,
    linear_head_entry,
    preprocess_record,
    provenance_record,
    save_bundle,
    save_ensemble_bundle,
)
from e2e_mammo.models.patch_classifier import build_patch_classifier
from e2e_mammo.models.whole_image import build_whole_image_classifier, whole_image_spec

SIZE = (64, 48)
PATCH = 64
TOPS = {
    "vgg": {"type": "vgg", "blocks": [[8, 1]]},
    "vgg_heatmap": {"type": "vgg", "blocks": [[8, 1]], "heatmap": True},
}
#: Header identifiers the tests look for in every output.
PATIENT_NAME, PATIENT_ID = "Doe^Jane", "SECRET-ID-4711"


def tiny_bundle(
    path: Path, top: str = "vgg", seed: int = 0, data: str = "synthetic", arch: str = "vgg16"
) -> Path:
    """A random-init whole-image model (VGG16 at 64x48) saved as a training job saves one."""
    torch.manual_seed(seed)
    patch = build_patch_classifier(arch, mean=40.0)
    model = build_whole_image_classifier(patch, arch, TOPS[top], SIZE, PATCH).eval()
    spec = whole_image_spec(arch, TOPS[top], SIZE, PATCH)
    return save_bundle(
        path,
        model,
        spec,
        preprocess=preprocess_record(SIZE, "minmax", model),
        provenance=provenance_record(
            f"test/{top}-{seed}", data=data, settings={"seed": seed}, data_files={}, metrics={}
        ),
        heatmap=heatmap_head(model, linear_head_entry(patch.head, 2)),
    )


def tiny_ensemble(folder: Path, n: int = 2) -> Path:
    """An ensemble bundle of ``n`` tiny model bundles (one with its own heatmap layer)."""
    tops = ["vgg", "vgg_heatmap"]
    members = [
        (f"m{i}", tiny_bundle(folder / f"m{i}.pt", top=tops[i % 2], seed=i)) for i in range(n)
    ]
    provenance = {
        "source": "ensemble/test",
        "data": "synthetic",
        "members": [m for m, _ in members],
    }
    return save_ensemble_bundle(folder / "bundle.pt", members, provenance)


def mammogram(seed: int, shape: tuple[int, int] = (160, 120)) -> np.ndarray:
    """A uint16 breast-like image: a bright half-disc on black with noise and a blob."""
    rng = np.random.default_rng(seed)
    rows, cols = shape
    y, x = np.mgrid[0:rows, 0:cols]
    breast = (x / cols) ** 2 + ((y - rows / 2) / (rows / 2)) ** 2 < 1
    image = np.where(breast, 20000 + rng.normal(0, 3000, shape), 0)
    image[rows // 3 : rows // 3 + 12, cols // 5 : cols // 5 + 12] += 30000
    return np.clip(image, 0, 65535).astype(np.uint16)


def write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
    return path


def write_mammogram_dicom(path: Path, image: np.ndarray, **tags) -> Path:
    """A DICOM mammogram carrying a patient name and ID that must never reach an output."""
    tags.setdefault("modality", "MG")
    extra = {"PatientName": PATIENT_NAME, **tags.pop("extra", {})}
    return write_dicom(path, image, DicomHeader(patient_id=PATIENT_ID, extra=extra, **tags))


def png_claiming(path: Path, height: int, width: int) -> Path:
    """A small 8-bit grey PNG whose IHDR claims ``height`` x ``width`` pixels (a few rows of
    zeros follow: a decoder that trusts the header allocates the whole image first)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 4)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data + chunk(b"IEND", b""))
    return path


def deflate_bomb(path: Path, image: np.ndarray, inflated_bytes: int) -> Path:
    """A deflated DICOM whose body inflates to ``inflated_bytes`` (a tiny mammogram's header,
    then zeros), built 1 MiB at a time so the test never holds the inflated body."""
    import zlib

    import pydicom
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    from e2e_mammo.preprocess.dicom import meta_group_end

    ds = pydicom.dcmread(write_mammogram_dicom(path.with_suffix(".src.dcm"), image))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    path.with_suffix(".src.dcm").unlink()
    head = path.read_bytes()
    start, _ = meta_group_end(path)
    packer, zeros = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS), bytes(1 << 20)
    with path.open("wb") as out:
        out.write(head[:start])
        for _ in range(inflated_bytes >> 20):
            out.write(packer.compress(zeros))
        out.write(packer.flush())
    return path
