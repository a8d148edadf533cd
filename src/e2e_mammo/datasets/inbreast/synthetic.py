"""Synthetic INbreast release folder in the real layout (see docs/data-formats.md §2).

``synth_inbreast(out)`` writes, under the release folder ``out``:

* ``AllDICOMs/<8-digit file name>_<16-hex patient hash>_MG_<L|R>_<CC|ML>_ANON.dcm``: MG
  (Digital Mammography For Presentation) objects, Explicit VR LE, MONOCHROME2, 16 bits allocated
  and stored (as the MATLAB re-exports are reported), 14-bit content with a maximum around
  3000-4000, blank PatientID, no laterality/view tags. 4 images per patient (2 for about 22 %:
  mastectomy cases). Sizes are the two detector formats 4084x3328 (~70 % of patients) and
  3328x2560 scaled by the same factor, so that the large format is ``image_size``.
* ``INbreast.csv``: ``;``-separated, CRLF, the real header, ``removed`` in the first two
  columns, ``YYYYMM`` dates, ACR ``1``-``4`` (one whitespace-only cell), BI-RADS strings
  ``1,2,3,4a,4b,4c,5,6``.
* ``AllXML/<File Name>.xml``: OsiriX plists for every image with a drawn finding (``Mass``
  polygons, 1-point ``Calcification`` ROIs and a ``Cluster`` polygon). No XML for BI-RADS 1
  (nothing drawn) nor for the ~15 % of BI-RADS 2 images drawn without a finding.

Pictures: BI-RADS 4-6 images carry malignant-looking lesions (spiculated mass and/or fine
pleomorphic calcifications), BI-RADS 2-3 benign-looking ones (circumscribed mass or coarse
calcifications), BI-RADS 1 nothing. Both views of a breast share its BI-RADS.

The folder is built in ``out.parent/.<out.name>.partial`` and renamed to ``out`` at the end;
an existing ``out`` is replaced only when this program built it (see
:mod:`~e2e_mammo.datasets.synth.staging`); a real release folder there is refused untouched.
"""

from __future__ import annotations

import plistlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from e2e_mammo.datasets.inbreast.index import VIEW_TOKENS
from e2e_mammo.datasets.synth.dicom_writer import (
    DIGITAL_MAMMOGRAPHY_PRESENTATION,
    DicomHeader,
    ExplicitVRLittleEndian,
    write_dicom,
)
from e2e_mammo.datasets.synth.phantom import DrawnLesion, Finding, Rendered, render_mammogram
from e2e_mammo.datasets.synth.staging import staged_output
from e2e_mammo.logs import Progress

__all__ = ["CSV_HEADER", "FILE_RE", "synth_inbreast"]

CSV_HEADER = "Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads"
FILE_RE = r"^(\d{8})_([0-9a-f]{16})_MG_([LR])_([A-Z]+)_ANON\.dcm$"
DATES = ["200801", "200802", "200901", "200902", "201001"]
BIRADS = ["1", "2", "3", "4a", "4b", "4c", "5", "6"]
BIRADS_P = [0.16, 0.54, 0.06, 0.03, 0.02, 0.05, 0.12, 0.02]
PIXEL_MM = 0.07  # detector pitch at full size


def _uid(rng: np.random.Generator) -> str:
    digits = "".join(str(int(d)) for d in rng.integers(0, 10, size=37))
    return "2.25." + str(int(rng.integers(1, 10))) + digits


def _findings(birads: str, rng: np.random.Generator) -> list[Finding]:
    level = int(birads[0])
    if level == 1:
        return []
    if level == 2:
        if rng.random() < 0.15:
            return []
        return [Finding("mass" if rng.random() < 0.4 else "calc", False)]
    if level == 3:
        return [Finding("mass", False)]
    u = rng.random()
    if u < 0.5:
        return [Finding("mass", True)]
    if u < 0.8:
        return [Finding("calc", True)]
    return [Finding("mass", True), Finding("calc", True)]


def _contour_points(mask: np.ndarray) -> list[tuple[float, float]]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return []
    c = max(contours, key=cv2.contourArea)
    c = cv2.approxPolyDP(c, 0.7, True)
    return [(float(p[0][0]), float(p[0][1])) for p in c]


def _roi(
    name: str,
    index: int,
    points: list[tuple[float, float]],
    image: np.ndarray,
    region: np.ndarray,
    spacing: float,
    roi_type: int,
) -> dict:
    vals = image[region].astype(np.float64) if region.any() else np.zeros(1)
    area_px = float(region.sum()) if len(points) > 1 else 0.0
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    cx, cy = float(np.mean(xs)), float(np.mean(ys))
    return {
        "Area": area_px * spacing * spacing / 100.0,  # cm^2, as OsiriX reports
        "Center": f"({cx * spacing:.6f}, {cy * spacing:.6f}, 0.000000)",
        "Dev": float(vals.std()),
        "IndexInImage": index,
        "Max": float(vals.max()),
        "Mean": float(vals.mean()),
        "Min": float(vals.min()),
        "Name": name,
        "NumberOfPoints": len(points),
        "Point_mm": [f"({x * spacing:.6f}, {y * spacing:.6f}, 0.000000)" for x, y in points],
        "Point_px": [f"({x:.6f}, {y:.6f})" for x, y in points],
        "Total": float(vals.sum()),
        "Type": roi_type,
    }


def _xml(image: np.ndarray, lesions: list[DrawnLesion], spacing: float) -> bytes:
    rois: list[dict] = []
    for les in lesions:
        if les.kind == "mass":
            pts = _contour_points(les.mask)
            if len(pts) >= 3:
                rois.append(_roi("Mass", len(rois), pts, image, les.mask, spacing, 15))
            continue
        for sy, sx in les.specks:
            r, c = int(round(sy)), int(round(sx))
            if not (0 <= r < image.shape[0] and 0 <= c < image.shape[1]):
                continue
            region = np.zeros(image.shape, dtype=bool)
            region[r, c] = True
            rois.append(_roi("Calcification", len(rois), [(sx, sy)], image, region, spacing, 19))
        pts = _contour_points(les.mask)
        if len(pts) >= 3:
            rois.append(_roi("Cluster", len(rois), pts, image, les.mask, spacing, 15))
    doc = {"Images": [{"ImageIndex": 0, "NumberOfROIs": len(rois), "ROIs": rois}]}
    return plistlib.dumps(doc, fmt=plistlib.FMT_XML, sort_keys=True)


#: CSV view -> file-name view token (``MLO`` -> ``ML``), the inverse of the indexer's
FILE_VIEW = {view: token for token, view in VIEW_TOKENS.items()}


@dataclass(frozen=True)
class _Format:
    """What every image of the release shares: the two detector sizes and the pixel spacing."""

    sizes: dict[str, tuple[int, int]]
    spacing: float  # mm per pixel after scaling (both formats)


def _format(image_size: tuple[int, int]) -> _Format:
    rows_l, cols_l = int(image_size[0]), int(image_size[1])
    sizes = {
        "large": (rows_l, cols_l),
        "small": (int(round(rows_l * 3328 / 4084)), int(round(cols_l * 2560 / 3328))),
    }
    return _Format(sizes, PIXEL_MM * 4084 / rows_l)


def _write_image(
    root: Path, fname: str, rendered: Rendered, date: str, spacing: float, rng: np.random.Generator
) -> None:
    """Write one image's DICOM (and its OsiriX XML when a lesion is drawn)."""
    write_dicom(
        root / "AllDICOMs" / fname,
        rendered.image,
        DicomHeader(
            patient_id="",
            study_uid=_uid(rng),
            series_uid=_uid(rng),
            sop_instance_uid=_uid(rng),
            sop_class_uid=DIGITAL_MAMMOGRAPHY_PRESENTATION,
            transfer_syntax=ExplicitVRLittleEndian,
            study_date=f"{date}01",
            modality="MG",
        ),
    )
    if rendered.lesions:
        xml = _xml(rendered.image, rendered.lesions, spacing)
        (root / "AllXML" / f"{fname[:8]}.xml").write_bytes(xml)


def _write_patient(
    root: Path, fmt: _Format, used_names: set[int], blank_acr: bool, rng: np.random.Generator
) -> list[str]:
    """Write the 2 or 4 images of one patient; return their INbreast.csv lines."""
    phash = "".join(f"{int(b):02x}" for b in rng.integers(0, 256, size=8))
    size = fmt.sizes["large" if rng.random() < 0.7 else "small"]
    date = DATES[int(rng.integers(len(DATES)))]
    acr = int(rng.choice([1, 2, 3, 4], p=np.array([136, 146, 99, 28]) / 409))
    sides = ["L" if rng.random() < 0.5 else "R"] if rng.random() < 0.22 else ["R", "L"]
    base = int(rng.integers(20_000_000, 53_600_000))
    lines = []
    for side in sides:
        birads = str(rng.choice(BIRADS, p=BIRADS_P))
        for view in ("CC", "MLO"):
            name = base + 24 * len(lines) + int(rng.integers(0, 4))
            while name in used_names:
                name += 1
            used_names.add(name)
            fname = f"{name:08d}_{phash}_MG_{side}_{FILE_VIEW.get(view, view)}_ANON.dcm"
            findings = _findings(birads, rng)
            img_rng = np.random.default_rng(int(rng.integers(2**62)))
            rendered = render_mammogram(size, side, view, acr, findings, img_rng, profile="ffdm")
            _write_image(root, fname, rendered, date, fmt.spacing, rng)
            acr_cell = " " * 190 if (blank_acr and not lines) else str(acr)
            lines.append(f"removed;removed;{side};{view};{date};{name:08d};{acr_cell};{birads}")
    return lines


def synth_inbreast(
    out: Path,
    n_patients: int = 40,
    image_size: tuple[int, int] = (1024, 832),
    seed: int = 0,
) -> Path:
    """Write a synthetic INbreast release folder at ``out`` and return ``out``.

    Args:
        out: the release folder (it will hold ``AllDICOMs/``, ``AllXML/`` and ``INbreast.csv``);
            if it exists it must be empty or a synthetic tree built here (else
            :class:`~e2e_mammo.errors.OutputError`, nothing deleted).
        n_patients: number of patient hashes (4 images each, 2 for mastectomy cases).
        image_size: (rows, cols) of the large 4084x3328 format after scaling; the small format
            3328x2560 is scaled by the same factors.
        seed: the only source of randomness: the same seed gives the same bytes.
    """
    if n_patients < 1:
        raise ValueError(f"n_patients must be >= 1, got {n_patients}")
    out = Path(out)
    rng = np.random.default_rng(seed)
    fmt = _format(image_size)
    used_names: set[int] = set()
    blank_acr_patient = int(rng.integers(n_patients))
    progress = Progress("synth inbreast", n_patients, unit="patients")
    lines = [CSV_HEADER]
    with staged_output(out) as root:
        (root / "AllDICOMs").mkdir()
        (root / "AllXML").mkdir()
        for p in range(n_patients):
            lines += _write_patient(root, fmt, used_names, p == blank_acr_patient, rng)
            progress.tick()
        (root / "INbreast.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("ascii"))
    return out
