"""Synthetic CBIS-DDSM download in the real NBIA-retriever layout (see docs/data-formats.md §1).

``synth_cbis_ddsm(out)`` writes, under the download root ``out``:

* ``CBIS-DDSM/<SubjectID>/<study folder>/<series folder>/1-1.dcm`` (and ``1-2.dcm`` in 2-file ROI
  series). ``layout="descriptive"`` gives retriever-3.6 names
  (``07-20-2016-DDSM-NA-74994/1.000000-full mammogram images-24515``; about 15 % of subjects
  without ``-NA-`` and 15 % with a ``1-`` series prefix); ``layout="classic"`` gives
  ``<StudyInstanceUID>/<SeriesInstanceUID>``. File names are ``1-1.dcm``/``1-2.dcm`` in both.
* ``metadata.csv`` (one row per series) when ``with_metadata``.
* the four case-description CSVs with the real names, headers, CRLF records and the quoted
  trailing line feed (mass: ``ROI mask file path``; calc: ``cropped image file path``). Their
  paths use the classic ``Subject/StudyUID/SeriesUID/00000N.dcm`` form, whose file names do not
  match the files on disk (the real quirk).

Quirks reproduced: the mask at ``1-1.dcm`` or ``1-2.dcm`` (~50/50); 2-file series described
``cropped images`` (~12 %); ROIs split over two study/series folders (~5 %, mostly masses);
masks a few pixels off the full-image size (~3 %); non-contiguous abnormality ids; a patient in
both a train and a test CSV; ``NA`` descriptors; one calc-test patient with density ``0`` and one
mass-train row with subtlety ``0`` (as in the real files, when ``n_patients >= 20``).

Views listed twice (71 views of the real CSVs, data-formats §1.1): for ``max(2, 4 %)`` of the
patients (fewer when there are fewer patients), every view of one breast is also listed under
the other abnormality's prefix, with a lesion of that kind of its own: the same picture written
as a second full-image DICOM with different UIDs, and the ROI numbered after the breast's other
ROIs (as in the real data, whose ids of one view run across the two lists). Every second such
patient has the extra listing in the other official set (like ``Mass-Test``/``Calc-Training``
``P_00016``), the others in the same one (like ``Mass-Training``/``Calc-Training`` ``P_00710``).

The output folder is built in ``out.parent/.<out.name>.partial`` and renamed to ``out`` at the
end, so an interrupted run never leaves a tree at ``out`` that looks complete. An existing
``out`` is replaced only when this program built it (see
:mod:`~e2e_mammo.datasets.synth.staging`); a real download there is refused untouched.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from e2e_mammo.datasets.cbis_ddsm.descriptions import CSV_FILES as DESCRIPTION_CSVS
from e2e_mammo.datasets.synth.dicom_writer import DicomHeader, make_uid, write_dicom
from e2e_mammo.datasets.synth.phantom import Finding, Rendered, render_mammogram
from e2e_mammo.datasets.synth.staging import staged_output
from e2e_mammo.logs import Progress

__all__ = [
    "jitter_size",
    "CSV_FILES",
    "FULL_DATE",
    "ROI_DATE",
    "MASS_HEADER",
    "CALC_HEADER",
    "METADATA_HEADER",
    "synth_cbis_ddsm",
]

MASS_HEADER = (
    "patient_id,breast_density,left or right breast,image view,abnormality id,abnormality type,"
    "mass shape,mass margins,assessment,pathology,subtlety,image file path,"
    "cropped image file path,ROI mask file path"
)
CALC_HEADER = (
    "patient_id,breast density,left or right breast,image view,abnormality id,abnormality type,"
    "calc type,calc distribution,assessment,pathology,subtlety,image file path,"
    "cropped image file path,ROI mask file path"
)
METADATA_HEADER = [
    "Series UID",
    "Collection",
    "3rd Party Analysis",
    "Data Description URI",
    "Subject ID",
    "Study UID",
    "Study Description",
    "Study Date",
    "Series Description",
    "Manufacturer",
    "Modality",
    "SOP Class Name",
    "SOP Class UID",
    "Number of Images",
    "File Size",
    "File Location",
    "Download Timestamp",
]
#: SubjectID prefix -> description CSV name (the indexer's :data:`CSV_FILES`, keyed by prefix)
CSV_FILES = {prefix: name for name, (_, _, prefix) in DESCRIPTION_CSVS.items()}
FULL_DATE = {
    "Mass-Training": "07-20-2016",
    "Calc-Training": "08-07-2016",
    "Mass-Test": "10-04-2016",
    "Calc-Test": "08-29-2017",
}
ROI_DATE = {
    "Mass-Training": "07-21-2016",
    "Calc-Training": "09-06-2017",
    "Mass-Test": "10-04-2016",
    "Calc-Test": "08-29-2017",
}
# the few real exceptions, used for the "cropped images" study of split ROIs
ROI_DATE_EXCEPTION = {
    "Mass-Training": "07-20-2016",
    "Calc-Training": "09-27-2017",
    "Mass-Test": "10-04-2016",
    "Calc-Test": "08-30-2017",
}
SC_CLASS_UID = "1.2.840.10008.5.1.4.1.1.7"
DOI = "https://doi.org/10.7937/K9/TCIA.2016.7O02S9CY"

_MASS_MAL = {
    "shape": ["IRREGULAR", "IRREGULAR", "IRREGULAR-ARCHITECTURAL_DISTORTION", "LOBULATED"],
    "margins": [
        "SPICULATED",
        "SPICULATED",
        "ILL_DEFINED",
        "ILL_DEFINED-SPICULATED",
        "MICROLOBULATED",
    ],
}
_MASS_BEN = {
    "shape": ["OVAL", "OVAL", "ROUND", "LOBULATED", "OVAL-LYMPH_NODE"],
    "margins": ["CIRCUMSCRIBED", "CIRCUMSCRIBED", "OBSCURED", "CIRCUMSCRIBED-OBSCURED", "NA"],
}
_CALC_MAL = {
    "type": [
        "PLEOMORPHIC",
        "PLEOMORPHIC",
        "FINE_LINEAR_BRANCHING",
        "PLEOMORPHIC-FINE_LINEAR_BRANCHING",
        "AMORPHOUS",
    ],
    "dist": ["CLUSTERED", "CLUSTERED", "SEGMENTAL", "LINEAR", "CLUSTERED-LINEAR", "NA"],
}
_CALC_BEN = {
    "type": [
        "PUNCTATE",
        "LUCENT_CENTER",
        "ROUND_AND_REGULAR-LUCENT_CENTER",
        "COARSE",
        "VASCULAR",
        "ROUND_AND_REGULAR-EGGSHELL",
        "LUCENT_CENTERED",
    ],
    "dist": ["CLUSTERED", "REGIONAL", "DIFFUSELY_SCATTERED", "SEGMENTAL", "NA", "NA"],
}


def jitter_size(
    size: tuple[int, int], rng: np.random.Generator, frac: float = 0.1
) -> tuple[int, int]:
    """``size`` with each side scaled by a random factor in [1-frac, 1+frac]."""
    rows = int(round(size[0] * rng.uniform(1 - frac, 1 + frac)))
    cols = int(round(size[1] * rng.uniform(1 - frac, 1 + frac)))
    return max(rows, 32), max(cols, 24)


@dataclass
class _Lesion:
    kind: str  # "mass" | "calc"
    pathology: str
    abn_id: int
    desc1: str
    desc2: str
    assessment: int
    subtlety: int

    @property
    def malignant(self) -> bool:
        return self.pathology == "MALIGNANT"


@dataclass
class _Roi:
    lesion: _Lesion
    prefix: str
    index: int  # index of the lesion in the scan's findings
    split: bool = False
    mask_first: bool = False
    desc: str = "ROI mask images"
    mismatch: tuple[int, int] | None = None


@dataclass
class _Scan:
    patient: str
    side: str  # LEFT / RIGHT
    view: str  # CC / MLO
    density: int
    shape: tuple[int, int]
    seed: int
    lesions: list[_Lesion] = field(default_factory=list)
    rois: list[_Roi] = field(default_factory=list)
    csv_density: dict[str, str] = field(default_factory=dict)


def _choice(rng: np.random.Generator, items: list[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _pathology(kind: str, rng: np.random.Generator) -> str:
    if rng.random() < 0.46:
        return "MALIGNANT"
    bwc = 0.2 if kind == "mass" else 0.45
    return "BENIGN_WITHOUT_CALLBACK" if rng.random() < bwc else "BENIGN"


def _make_lesion(kind: str, pathology: str, abn_id: int, rng: np.random.Generator) -> _Lesion:
    mal = pathology == "MALIGNANT"
    if kind == "mass":
        table = _MASS_MAL if mal else _MASS_BEN
        d1, d2 = _choice(rng, table["shape"]), _choice(rng, table["margins"])
    else:
        table = _CALC_MAL if mal else _CALC_BEN
        d1, d2 = _choice(rng, table["type"]), _choice(rng, table["dist"])
    if mal:
        assessment = int(rng.choice([4, 4, 5, 5, 0, 3]))
        subtlety = int(rng.integers(3, 6))
    elif pathology == "BENIGN":
        assessment = int(rng.choice([2, 3, 4, 4, 0]))
        subtlety = int(rng.integers(2, 6))
    else:
        assessment = int(rng.choice([2, 2, 3, 0]))
        subtlety = int(rng.integers(1, 5))
    return _Lesion(kind, pathology, abn_id, d1, d2, assessment, subtlety)


def _abn_ids(k: int, rng: np.random.Generator) -> list[int]:
    if rng.random() < 0.85:
        return list(range(1, k + 1))
    ids = sorted(int(i) for i in rng.choice(np.arange(1, k + 3), size=k, replace=False))
    if ids == list(range(1, k + 1)):
        ids[-1] += 1
    return ids


def _prefix(kind: str, test: bool) -> str:
    return ("Mass" if kind == "mass" else "Calc") + ("-Test" if test else "-Training")


def _draw_patients(
    n_patients: int, rng: np.random.Generator
) -> tuple[list[str], set[str], dict[str, str]]:
    """Patient ids (sorted), the official-test patients (20 %) and each patient's lesion kind."""
    numbers = sorted(
        int(i) for i in rng.choice(np.arange(1, max(2600, 20 * n_patients)), n_patients, False)
    )
    patients = [f"P_{i:05d}" for i in numbers]
    n_test = int(round(0.2 * n_patients)) if n_patients >= 2 else 0
    test = set(rng.permutation(patients)[:n_test].tolist())
    # alternate mass/calc within each split so that small runs still fill all four CSVs
    kinds: dict[str, str] = {}
    for group in ([p for p in patients if p in test], [p for p in patients if p not in test]):
        start = int(rng.integers(2))
        for i, pid in enumerate(rng.permutation(group).tolist()):
            kinds[pid] = "mass" if (i + start) % 2 == 0 else "calc"
    return patients, test, kinds


def _patient_scans(
    pid: str, kind: str, in_test: bool, image_size: tuple[int, int], rng: np.random.Generator
) -> list[_Scan]:
    """The scans of one patient: one or two breasts, one or two views, 1-3 lesions per breast."""
    density = int(rng.choice([1, 2, 3, 4], p=[0.15, 0.4, 0.3, 0.15]))
    sides = ["LEFT", "RIGHT"] if rng.random() < 0.2 else [_choice(rng, ["LEFT", "RIGHT"])]
    scans: list[_Scan] = []
    for side in sides:
        views = ["CC", "MLO"] if rng.random() < 0.75 else [_choice(rng, ["CC", "MLO"])]
        k = int(rng.choice([1, 2, 3], p=[0.8, 0.15, 0.05]))
        first = _pathology(kind, rng)
        paths = [
            first if (i == 0 or rng.random() < 0.85) else _pathology(kind, rng) for i in range(k)
        ]
        lesions = [
            _make_lesion(kind, p, a, rng) for p, a in zip(paths, _abn_ids(k, rng), strict=True)
        ]
        for view in views:
            seed = int(rng.integers(2**62))
            scan = _Scan(pid, side, view, density, jitter_size(image_size, rng), seed)
            for i, les in enumerate(lesions):
                scan.lesions.append(les)
                scan.rois.append(_Roi(les, _prefix(kind, in_test), i))
            scans.append(scan)
    return scans


def _other_kind(kind: str) -> str:
    return "calc" if kind == "mass" else "mass"


def _patient_in_both_sets(
    base: _Scan, image_size: tuple[int, int], rng: np.random.Generator
) -> list[_Scan]:
    """Two scans of the other breast of a training patient, listed in a test CSV with a lesion
    of the other kind (mass-train ∩ calc-test in the real data)."""
    kind = _other_kind(base.lesions[0].kind)
    side = "RIGHT" if base.side == "LEFT" else "LEFT"
    les = _make_lesion(kind, _pathology(kind, rng), 1, rng)
    return [
        _Scan(
            base.patient,
            side,
            view,
            base.density,
            jitter_size(image_size, rng),
            int(rng.integers(2**62)),
            [les],
            [_Roi(les, _prefix(kind, True), 0)],
        )
        for view in ("CC", "MLO")
    ]


def _list_breast_twice(scans: list[_Scan], in_test: bool, rng: np.random.Generator) -> None:
    """Also list every view of one breast (``scans``) under the other kind's prefix (official set
    ``test`` when ``in_test``), with a lesion of that kind numbered after the breast's ids."""
    kind = _other_kind(scans[0].lesions[0].kind)
    abn_id = max(les.abn_id for les in scans[0].lesions) + 1
    les = _make_lesion(kind, _pathology(kind, rng), abn_id, rng)
    for scan in scans:
        scan.lesions.append(les)
        scan.rois.append(_Roi(les, _prefix(kind, in_test), len(scan.lesions) - 1))


def _plan(n_patients: int, image_size: tuple[int, int], rng: np.random.Generator) -> list[_Scan]:
    """Every scan to write, grouped by patient (see the module docstring for the quirks)."""
    patients, test, kinds = _draw_patients(n_patients, rng)
    per_patient = {
        pid: _patient_scans(pid, kinds[pid], pid in test, image_size, rng) for pid in patients
    }
    train = [p for p in patients if p not in test and len({s.side for s in per_patient[p]}) == 1]
    both = train[0] if train and test else None
    if both is not None:
        per_patient[both] += _patient_in_both_sets(per_patient[both][0], image_size, rng)
    others = [p for p in rng.permutation(patients).tolist() if p != both]
    for i, pid in enumerate(others[: max(2, round(0.04 * n_patients))]):
        breast = [s for s in per_patient[pid] if s.side == per_patient[pid][0].side]
        _list_breast_twice(breast, (pid in test) != (i % 2 == 1), rng)
    return [scan for pid in patients for scan in per_patient[pid]]


def _assign_quirks(scans: list[_Scan], n_patients: int, rng: np.random.Generator) -> None:
    rois = [r for s in scans for r in s.rois]
    for r in rois:
        r.split = rng.random() < (0.07 if r.lesion.kind == "mass" else 0.015)
        r.mask_first = bool(rng.random() < 0.5)
        r.desc = "cropped images" if rng.random() < 0.12 else "ROI mask images"
        r.mismatch = None
    # make sure every quirk appears at least once when there are enough ROIs
    if len(rois) >= 5:
        order = [int(i) for i in rng.permutation(len(rois))]
        a, b, c, d, e = (rois[i] for i in order[:5])
        if not any(r.split for r in rois):
            a.split = True
        b.split = c.split = d.split = False
        b.mask_first, c.mask_first = True, False
        d.desc = "cropped images"
        e.mismatch = (0, 0)
    for r in rois:
        if r.mismatch is not None or rng.random() < 0.03:
            dr, dc = (int(v) for v in rng.integers(2, 9, size=2) * rng.choice([-1, 1], size=2))
            r.mismatch = (dr, dc)
    if n_patients >= 20:
        calc_test = [s for s in scans if any(r.prefix == "Calc-Test" for r in s.rois)]
        if calc_test:
            pid = calc_test[0].patient
            for s in scans:
                if s.patient == pid:
                    s.csv_density["Calc-Test"] = "0"
        mass_train = [r for s in scans for r in s.rois if r.prefix == "Mass-Training"]
        if mass_train:
            mass_train[-1].lesion.subtlety = 0


def _size_str(n_bytes: int) -> str:
    if n_bytes >= 1024 * 1024:
        return f"{n_bytes / (1024 * 1024):.2f} MB"
    return f"{n_bytes / 1024:.2f} KB"


@dataclass(frozen=True)
class _Series:
    """One series to write: where it goes and what its header and metadata.csv row say."""

    subject: str
    study: str
    series: str
    date: str
    desc: str


class _Writer:
    """Writes series in the chosen layout, draws their UIDs and keeps the metadata.csv rows."""

    def __init__(self, root: Path, layout: str, rng: np.random.Generator) -> None:
        self.root = root
        self.layout = layout
        self.rng = rng
        self.series: list[list[str]] = []
        self.t0 = datetime(2023, 5, 24, 2, 45, 44, 375000)

    def uids(self, n: int) -> list[str]:
        """``n`` fresh UIDs."""
        return [make_uid(self.rng) for _ in range(n)]

    def style(self) -> tuple[bool, bool]:
        """A subject's descriptive naming variant: (``-NA-`` in the study, ``1.000000-`` prefix)."""
        return bool(self.rng.random() < 0.85), bool(self.rng.random() < 0.85)

    def folder(self, s: _Series, style: tuple[bool, bool]) -> Path:
        """The series folder below the root, in the writer's layout."""
        if self.layout == "classic":
            return Path("CBIS-DDSM") / s.subject / s.study / s.series
        with_na, long_prefix = style
        study_dir = f"{s.date}-DDSM-{'NA-' if with_na else ''}{s.study[-5:]}"
        series_dir = f"{'1.000000' if long_prefix else '1'}-{s.desc}-{s.series[-5:]}"
        return Path("CBIS-DDSM") / s.subject / study_dir / series_dir

    def write_series(
        self, s: _Series, style: tuple[bool, bool], files: list[tuple[np.ndarray, str]], scan: _Scan
    ) -> None:
        """Write ``files`` ((pixels, SOP UID) pairs) as ``1-1.dcm``, ``1-2.dcm`` of one series."""
        rel = self.folder(s, style)
        total = 0
        for i, (pixels, sop) in enumerate(files, start=1):
            path = write_dicom(
                self.root / rel / f"1-{i}.dcm",
                pixels,
                DicomHeader(
                    patient_id=s.subject,
                    study_uid=s.study,
                    series_uid=s.series,
                    sop_instance_uid=sop,
                    laterality=scan.side[0],
                    patient_orientation=scan.view,
                    series_description=s.desc,
                    study_date=s.date[6:] + s.date[:2] + s.date[3:5],
                    extra={
                        "InstanceNumber": i,
                        "SecondaryCaptureDeviceManufacturer": "MathWorks",
                        "SecondaryCaptureDeviceManufacturerModelName": "MATLAB",
                    },
                ),
            )
            total += path.stat().st_size
        self.series.append(self._metadata_row(s, rel, len(files), total))

    def _metadata_row(self, s: _Series, rel: Path, n_files: int, n_bytes: int) -> list[str]:
        stamp = self.t0 + timedelta(milliseconds=1187 * len(self.series))
        ts = stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3].rstrip("0").rstrip(".")
        return [
            s.series,
            "CBIS-DDSM",
            "NO",
            DOI,
            s.subject,
            s.study,
            "",
            s.date,
            s.desc,
            "",
            "MG",
            "Secondary Capture Image Storage",
            SC_CLASS_UID,
            str(n_files),
            _size_str(n_bytes),
            "./" + rel.as_posix(),
            ts,
        ]

    def write_metadata(self, path: Path) -> None:
        """Write the retriever's ``metadata.csv`` (one row per series written)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(METADATA_HEADER)
        w.writerows(self.series)
        path.write_text(buf.getvalue(), encoding="ascii")

    def write_full_image(self, prefix: str, scan: _Scan, image: np.ndarray) -> tuple[str, str]:
        """Write the full image of ``scan`` under ``prefix``; return (SubjectID, CSV path)."""
        subject = f"{prefix}_{scan.patient}_{scan.side}_{scan.view}"
        study, series, sop = self.uids(3)
        s = _Series(subject, study, series, FULL_DATE[prefix], "full mammogram images")
        self.write_series(s, self.style(), [(image, sop)], scan)
        return subject, f"{subject}/{study}/{series}/000000.dcm"

    def write_roi(
        self, roi: _Roi, subject: str, scan: _Scan, crop: np.ndarray, mask: np.ndarray
    ) -> tuple[str, str]:
        """Write the crop and mask of one ROI (one 2-file series or two 1-file series); return
        their CSV paths (whose file names do not match the files, as in the real CSVs)."""
        rsub = f"{subject}_{roi.lesion.abn_id}"
        rdate = ROI_DATE[roi.prefix]
        style = self.style()
        if roi.split:
            cst, cse, csop, mst, mse, msop = self.uids(6)
            cdate = ROI_DATE_EXCEPTION[roi.prefix]
            self.write_series(
                _Series(rsub, cst, cse, cdate, "cropped images"), style, [(crop, csop)], scan
            )
            self.write_series(
                _Series(rsub, mst, mse, rdate, "ROI mask images"), style, [(mask, msop)], scan
            )
            return f"{rsub}/{cst}/{cse}/000000.dcm", f"{rsub}/{mst}/{mse}/000000.dcm"
        st, se, sop1, sop2 = self.uids(4)
        files = [(mask, sop1), (crop, sop2)] if roi.mask_first else [(crop, sop1), (mask, sop2)]
        self.write_series(_Series(rsub, st, se, rdate, roi.desc), style, files, scan)
        names = ("000000.dcm", "000001.dcm")
        crop_name, mask_name = names if roi.lesion.kind == "mass" else names[::-1]
        return f"{rsub}/{st}/{se}/{crop_name}", f"{rsub}/{st}/{se}/{mask_name}"


def _crop(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    m = max(4, int(0.15 * max(r1 - r0, c1 - c0)))
    r0, c0 = max(r0 - m, 0), max(c0 - m, 0)
    r1, c1 = min(r1 + m, image.shape[0]), min(c1 + m, image.shape[1])
    return np.ascontiguousarray(image[r0:r1, c0:c1])


def _roi_pixels(roi: _Roi, rendered: Rendered) -> tuple[np.ndarray, np.ndarray]:
    """(crop, mask) of one ROI: the mask 8-bit {0, 255}, resized when the ROI has a mismatch."""
    lesion = rendered.lesions[roi.index]
    mask = lesion.mask.astype(np.uint8) * 255
    if roi.mismatch is not None:
        rows, cols = rendered.image.shape
        size = (cols + roi.mismatch[1], rows + roi.mismatch[0])
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    return _crop(rendered.image, lesion.mask), mask


def _csv_row(scan: _Scan, roi: _Roi, image_path: str, crop_path: str, mask_path: str) -> list[str]:
    """The 14 cells of one description-CSV record."""
    les = roi.lesion
    return [
        scan.patient,
        scan.csv_density.get(roi.prefix, str(scan.density)),
        scan.side,
        scan.view,
        str(les.abn_id),
        "mass" if les.kind == "mass" else "calcification",
        les.desc1,
        les.desc2,
        str(les.assessment),
        les.pathology,
        str(les.subtlety),
        image_path,
        crop_path,
        mask_path,
    ]


CsvRows = dict[str, list[tuple[tuple, list[str]]]]


def _write_scan(writer: _Writer, scan: _Scan, csv_rows: CsvRows) -> None:
    """Render one scan and write it once per prefix listing it (same pixels, new UIDs), with its
    ROIs; add its CSV records to ``csv_rows`` (prefix -> (sort key, cells))."""
    findings = [Finding(les.kind, les.malignant) for les in scan.lesions]
    rendered = render_mammogram(
        scan.shape,
        scan.side[0],
        scan.view,
        scan.density,
        findings,
        np.random.default_rng(scan.seed),
        profile="film",
    )
    for prefix in dict.fromkeys(r.prefix for r in scan.rois):
        subject, image_path = writer.write_full_image(prefix, scan, rendered.image)
        for roi in (r for r in scan.rois if r.prefix == prefix):
            crop, mask = _roi_pixels(roi, rendered)
            crop_path, mask_path = writer.write_roi(roi, subject, scan, crop, mask)
            key = (scan.patient, scan.side, scan.view, roi.lesion.abn_id)
            csv_rows[prefix].append((key, _csv_row(scan, roi, image_path, crop_path, mask_path)))


def _csv_bytes(header: str, rows: list[list[str]], quoted_col: int) -> bytes:
    buf = io.StringIO()
    buf.write(header + "\r\n")
    for row in rows:
        cells = list(row)
        cells[quoted_col] = '"' + cells[quoted_col] + '\n"'
        buf.write(",".join(cells) + "\r\n")
    return buf.getvalue().encode("ascii")


def _write_csvs(root: Path, csv_rows: CsvRows) -> None:
    """The four description CSVs, records sorted by (patient, side, view, abnormality id)."""
    for prefix, name in CSV_FILES.items():
        rows = [row for _, row in sorted(csv_rows[prefix], key=lambda kr: kr[0])]
        mass = prefix.startswith("Mass")
        data = _csv_bytes(MASS_HEADER if mass else CALC_HEADER, rows, 13 if mass else 12)
        (root / name).write_bytes(data)


def synth_cbis_ddsm(
    out: Path,
    n_patients: int = 60,
    image_size: tuple[int, int] = (1024, 640),
    seed: int = 0,
    layout: str = "descriptive",
    with_metadata: bool = True,
) -> Path:
    """Write a synthetic CBIS-DDSM download root at ``out`` and return ``out``.

    Args:
        out: the download root (it will hold ``CBIS-DDSM/``, ``metadata.csv`` and the four CSVs);
            if it exists it must be empty or a synthetic tree built here (else
            :class:`~e2e_mammo.errors.OutputError`, nothing deleted).
        n_patients: number of patients (``P_xxxxx``); each has 1-4 full images.
        image_size: approximate (rows, cols) of a full image; each image varies by about ±10 %.
        seed: the only source of randomness: the same seed gives the same bytes.
        layout: ``"descriptive"`` (retriever >= 3.6 folder names) or ``"classic"`` (UIDs).
        with_metadata: also write the retriever's ``metadata.csv``.
    """
    if layout not in ("descriptive", "classic"):
        raise ValueError(f"layout must be 'descriptive' or 'classic', got {layout!r}")
    if n_patients < 1:
        raise ValueError(f"n_patients must be >= 1, got {n_patients}")
    out = Path(out)
    rng = np.random.default_rng(seed)
    scans = _plan(n_patients, image_size, rng)
    _assign_quirks(scans, n_patients, rng)
    by_patient: dict[str, list[_Scan]] = {}
    for scan in scans:
        by_patient.setdefault(scan.patient, []).append(scan)
    progress = Progress("synth cbis-ddsm", n_patients, unit="patients")
    csv_rows: CsvRows = {prefix: [] for prefix in CSV_FILES}
    with staged_output(out) as root:
        writer = _Writer(root, layout, np.random.default_rng([seed, 1]))
        for patient_scans in by_patient.values():
            for scan in patient_scans:
                _write_scan(writer, scan, csv_rows)
            progress.tick()
        _write_csvs(root, csv_rows)
        if with_metadata:
            writer.write_metadata(root / "metadata.csv")
    return out
