"""Build tiny CBIS-DDSM and INbreast download trees, in the real on-disk layouts, for the excerpts
of the real CSVs in ``tests/reference`` (see ``tests/reference/PROVENANCE.md`` and
``docs/data-formats.md`` §1.2-1.4, §2.1).

Only the pixels are tiny: every full image has its own small size (about 64x48), masks are 8-bit
``{0, 255}`` at the image size (except the two real mask-size mismatches), crops are 16x12 16-bit.
UIDs, SubjectIDs and folder names come from the CSV rows; the CSV files are read here with the
standard ``csv`` module, independently of the code under test. A view listed under both a ``Mass-``
and a ``Calc-`` SubjectID gets two DICOMs with the same pixels, as in the real data.
"""

from __future__ import annotations

import csv
import hashlib
import plistlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from e2e_mammo.datasets.cbis_ddsm.descriptions import CSV_FILES
from e2e_mammo.datasets.cbis_ddsm.synthetic import FULL_DATE, METADATA_HEADER, ROI_DATE
from e2e_mammo.datasets.synth.dicom_writer import DicomHeader, write_dicom

DATA = Path(__file__).parents[1] / "reference"
CBIS_CSV_DIR = DATA / "cbis-ddsm-csv"
INBREAST_CSV = DATA / "inbreast-csv" / "INbreast.csv"

CBIS_CSV_NAMES = tuple(CSV_FILES)
#: Subject prefix -> (full-image study date, ROI study date) as in the real downloads
STUDY_DATES = {prefix: (FULL_DATE[prefix], ROI_DATE[prefix]) for prefix in FULL_DATE}
#: the two real mask-size mismatches (fjeg/ddsm_tools#5) are reproduced
MASK_SIZE_MISMATCH = ("Calc-Test_P_00353_LEFT_CC", "Mass-Test_P_00145_LEFT_CC")
#: real case of a ``cropped images`` 2-file series whose 1-1.dcm is the mask
CROPPED_DESCRIBED_MASK = "Mass-Test_P_00016_LEFT_CC_1"


def read_cbis_rows(csv_dir: Path = CBIS_CSV_DIR, names=CBIS_CSV_NAMES) -> list[dict[str, str]]:
    """Rows of the CBIS CSVs present: stripped values, normalised keys, plus ``_file``/``_row``."""
    rows = []
    for name in names:
        path = Path(csv_dir) / name
        if not path.is_file():
            continue
        with path.open(newline="", encoding="utf-8") as handle:
            for number, raw in enumerate(csv.DictReader(handle), start=1):
                row = {k.strip().lower().replace(" ", "_"): v.strip() for k, v in raw.items()}
                row["_file"] = name
                row["_row"] = str(number)
                rows.append(row)
    return rows


def _parts(path: str) -> list[str]:
    return path.strip().split("/")


@dataclass
class CbisTree:
    """What :func:`build_cbis_tree` wrote (paths are ``str(root / ...)``)."""

    root: Path
    images: dict[str, Path] = field(default_factory=dict)  # image_id -> full image file
    shapes: dict[str, tuple[int, int]] = field(default_factory=dict)  # image_id -> (rows, cols)
    masks: dict[str, Path] = field(default_factory=dict)  # roi_id -> mask file
    crops: dict[str, Path] = field(default_factory=dict)  # roi_id -> crop file
    labels: dict[str, int] = field(default_factory=dict)  # image_id -> label of its own rows
    rows: list[dict[str, str]] = field(default_factory=list)

    @property
    def view_labels(self) -> dict[str, int]:
        """``P_xxxxx_SIDE_VIEW`` -> expected label of the scan (over all its listings)."""
        out: dict[str, int] = {}
        for subject, label in self.labels.items():
            view = view_of(subject)
            out[view] = max(out.get(view, 0), label)
        return out


def view_of(subject: str) -> str:
    """``Calc-Training_P_00016_LEFT_CC`` -> ``P_00016_LEFT_CC`` (the scan a SubjectID shows)."""
    return subject.split("_", 1)[1]


def _descriptive_names(index: int, date: str, study: str, series: str, desc: str):
    """The four real descriptive variants, chosen by ``index``: with/without ``-NA-``,
    ``1.000000-``/``1-`` series prefix, ``1-N.dcm``/``00000N.dcm`` file names."""
    variant = index % 4
    na = "-NA" if variant in (0, 3) else ""
    number = "1.000000" if variant in (0, 1) else "1"
    study_dir = f"{date}-DDSM{na}-{study[-5:]}"
    series_dir = f"{number}-{desc}-{series[-5:]}"
    names = ["000000.dcm", "000001.dcm"] if variant == 2 else ["1-1.dcm", "1-2.dcm"]
    return study_dir, series_dir, names


class _CbisWriter:
    """Writes the series of :func:`build_cbis_tree` in one layout and collects metadata.csv rows."""

    def __init__(self, tree: CbisTree, layout: str) -> None:
        self.tree = tree
        self.base = tree.root / "CBIS-DDSM"
        self.layout = layout
        self.rng = np.random.default_rng(0)
        self.meta_rows: list[dict[str, str]] = []
        self.image_index: dict[str, int] = {}  # SubjectID -> order of first appearance
        self.scans: dict[str, np.ndarray] = {}  # view -> pixels: a view listed twice, same pixels

    def place(self, subject, study, series, desc, date, n_files, index) -> list[Path]:
        """The file paths of one series (``index`` picks the descriptive naming variant)."""
        if self.layout == "classic":
            rel = (subject, study, series)
            names = ["000000.dcm", "000001.dcm"]
        else:
            study_dir, series_dir, names = _descriptive_names(index, date, study, series, desc)
            rel = (subject, study_dir, series_dir)
        self.meta_rows.append(
            {
                "Series UID": series,
                "Collection": "CBIS-DDSM",
                "Data Description URI": "https://doi.org/10.7937/K9/TCIA.2016.7O02S9CY",
                "Subject ID": subject,
                "Study UID": study,
                "Study Date": date,
                "Series Description": desc,
                "Modality": "MG",
                "SOP Class Name": "Secondary Capture Image Storage",
                "SOP Class UID": "1.2.840.10008.5.1.4.1.1.7",
                "Number of Images": str(n_files),
                "File Size": "1.00 KB",
                "File Location": "./" + "/".join(("CBIS-DDSM", *rel)),
                "Download Timestamp": "2023-05-24T02:45:47.806",
            }
        )
        return [self.base.joinpath(*rel) / name for name in names[:n_files]]

    def full_image(self, row: dict[str, str]) -> None:
        """Write the full image of a row's SubjectID (once per SubjectID)."""
        subject, study, series, _ = _parts(row["image_file_path"])
        if subject in self.image_index:
            return
        index = self.image_index[subject] = len(self.image_index)
        if view_of(subject) not in self.scans:
            size = (64 + index % 9, 48 + index % 7)
            self.scans[view_of(subject)] = self.rng.integers(0, 60000, size, dtype=np.uint16)
        pixels = self.scans[view_of(subject)]
        full_date = STUDY_DATES[subject.split("_P_")[0]][0]
        (path,) = self.place(subject, study, series, "full mammogram images", full_date, 1, index)
        write_dicom(
            path,
            pixels,
            DicomHeader(
                patient_id=subject,
                study_uid=study,
                series_uid=series,
                laterality=row["left_or_right_breast"][0],
                patient_orientation=row["image_view"],
                series_description="full mammogram images",
            ),
        )
        self.tree.images[subject] = path
        self.tree.shapes[subject] = pixels.shape

    def roi(self, row: dict[str, str]) -> None:
        """Write the mask (at the image size, or off it for the real mismatches) and the crop of
        a row's ROI, in one 2-file series or, as the CSV paths say, two 1-file series."""
        subject = _parts(row["image_file_path"])[0]
        roi_id = _parts(row["roi_mask_file_path"])[0]
        if roi_id in self.tree.masks:
            return
        index, roi_index = self.image_index[subject], len(self.tree.masks)
        shape = self.tree.shapes[subject]
        mask_shape = (shape[0] + 5, shape[1] - 3) if subject in MASK_SIZE_MISMATCH else shape
        mask = np.zeros(mask_shape, dtype=np.uint8)
        mask[10:20, 8:16] = 255
        crop = self.rng.integers(100, 50000, size=(16, 12), dtype=np.uint16)
        _, c_study, c_series, _ = _parts(row["cropped_image_file_path"])
        _, m_study, m_series, _ = _parts(row["roi_mask_file_path"])
        roi_date = STUDY_DATES[subject.split("_P_")[0]][1]
        if (c_study, c_series) == (m_study, m_series):
            desc = "cropped images" if roi_id == CROPPED_DESCRIBED_MASK else "ROI mask images"
            pair = self.place(roi_id, m_study, m_series, desc, roi_date, 2, index + roi_index)
            mask_first = roi_id == CROPPED_DESCRIBED_MASK or roi_index % 2 == 0
            mask_path, crop_path = pair if mask_first else pair[::-1]
        else:
            args = (roi_date, 1, roi_index)
            (crop_path,) = self.place(roi_id, c_study, c_series, "cropped images", *args)
            (mask_path,) = self.place(roi_id, m_study, m_series, "ROI mask images", *args)
        common = {
            "patient_id": roi_id,
            "laterality": row["left_or_right_breast"][0],
            "patient_orientation": row["image_view"],
        }
        for path, pixels, study, series, desc in (
            (mask_path, mask, m_study, m_series, "ROI mask images"),
            (crop_path, crop, c_study, c_series, "cropped images"),
        ):
            kw = {"study_uid": study, "series_uid": series, "series_description": desc}
            write_dicom(path, pixels, DicomHeader(**kw, **common))
        self.tree.masks[roi_id] = mask_path
        self.tree.crops[roi_id] = crop_path


def build_cbis_tree(
    root: Path,
    *,
    csv_dir: Path = CBIS_CSV_DIR,
    csv_names: tuple[str, ...] = CBIS_CSV_NAMES,
    layout: str = "descriptive",
    metadata: bool = False,
    only: set[str] | None = None,
    copy_csvs: bool = True,
) -> CbisTree:
    """Write ``root/CBIS-DDSM/...`` for the rows of the CSV excerpts (and copy the CSVs to root).

    Args:
        layout: ``descriptive`` (cycling through the 4 real naming variants) or ``classic``
            (``<StudyUID>/<SeriesUID>/00000N.dcm``).
        metadata: also write ``root/metadata.csv`` (one row per series).
        only: restrict to these full-image SubjectIDs.
        copy_csvs: copy the CSV files byte-for-byte into ``root``.
    """
    root = Path(root)
    tree = CbisTree(root=root)
    tree.rows = [
        r
        for r in read_cbis_rows(csv_dir, csv_names)
        if only is None or _parts(r["image_file_path"])[0] in only
    ]
    writer = _CbisWriter(tree, layout)
    for row in tree.rows:
        subject = _parts(row["image_file_path"])[0]
        malignant = int(row["pathology"] == "MALIGNANT")
        tree.labels[subject] = max(tree.labels.get(subject, 0), malignant)
        writer.full_image(row)
        writer.roi(row)
    if metadata:
        write_metadata(root / "metadata.csv", writer.meta_rows)
    if copy_csvs:
        for name in csv_names:
            if (Path(csv_dir) / name).is_file():
                copy_csv_records(Path(csv_dir) / name, root / name, only)
    return tree


def link_cbis_tree(root: Path, csv_dir: Path) -> int:
    """A classic-layout tree for every row of the CSVs in ``csv_dir``, fast enough for the full
    real CSVs: every full image, mask and crop is a hard link to one of three tiny template
    DICOMs (the indexer reads full-image headers and mask pixels, never the UIDs inside a file).
    Returns the number of full images linked."""
    base = Path(root) / "CBIS-DDSM"
    templates = {
        "full": write_dicom(
            Path(root) / "full.dcm", np.full((8, 6), 9, np.uint16), DicomHeader(patient_id="x")
        ),
        "mask": write_dicom(
            Path(root) / "mask.dcm", np.eye(8, 6, dtype=np.uint8) * 255, DicomHeader(patient_id="x")
        ),
        "crop": write_dicom(
            Path(root) / "crop.dcm",
            np.arange(12, dtype=np.uint16).reshape(4, 3),
            DicomHeader(patient_id="x"),
        ),
    }
    files: dict[Path, Path] = {}
    for row in read_cbis_rows(csv_dir):
        files[base.joinpath(*_parts(row["image_file_path"])[:3], "1-1.dcm")] = templates["full"]
        mask = base.joinpath(*_parts(row["roi_mask_file_path"])[:3])
        crop = base.joinpath(*_parts(row["cropped_image_file_path"])[:3])
        files[mask / "1-1.dcm"] = templates["mask"]
        files[crop / ("1-2.dcm" if crop == mask else "1-1.dcm")] = templates["crop"]
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.hardlink_to(template)
    return sum(1 for template in files.values() if template == templates["full"])


def copy_csv_records(src: Path, dst: Path, only: set[str] | None = None) -> bool:
    """Copy a CBIS CSV byte-for-byte; with ``only``, keep the header and only the records of those
    full-image SubjectIDs (records end in CRLF; embedded line feeds are bare LF). A file left
    without records is not written. Returns whether ``dst`` was written."""
    raw = Path(src).read_bytes()
    if only is None:
        Path(dst).write_bytes(raw)
        return True
    header, *records = raw.split(b"\r\n")
    wanted = tuple(f",{subject}/".encode() for subject in only)
    kept = [r for r in records if r and any(w in r for w in wanted)]
    if not kept:
        return False
    Path(dst).write_bytes(b"\r\n".join([header, *kept]) + b"\r\n")
    return True


def write_metadata(path: Path, rows: list[dict[str, str]]) -> None:
    """Write a retriever-style ``metadata.csv`` (standard header; one row per series)."""
    seen = set()
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=METADATA_HEADER, restval="")
        writer.writeheader()
        for row in rows:
            if row["File Location"] not in seen:
                seen.add(row["File Location"])
                writer.writerow(row)


# ----------------------------------------------------------------------------------------------
# INbreast
# ----------------------------------------------------------------------------------------------


@dataclass
class InbreastTree:
    """What :func:`build_inbreast_tree` wrote."""

    root: Path
    files: dict[str, Path] = field(default_factory=dict)  # File Name -> DICOM
    patients: dict[str, str] = field(default_factory=dict)  # File Name -> 16-hex hash
    rows: list[dict[str, str]] = field(default_factory=list)


def read_inbreast_rows(path: Path = INBREAST_CSV) -> list[dict[str, str]]:
    with Path(path).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def build_inbreast_tree(root: Path, *, csv_path: Path = INBREAST_CSV) -> InbreastTree:
    """Write ``root/AllDICOMs``, ``root/AllXML`` (plists for every non-BI-RADS-1 image) and copy
    ``INbreast.csv``. Patient hashes are invented: one per 4 consecutive rows."""
    root = Path(root)
    tree = InbreastTree(root=root, rows=read_inbreast_rows(csv_path))
    rng = np.random.default_rng(1)
    for i, row in enumerate(tree.rows):
        name = row["File Name"].strip()
        patient = hashlib.sha1(f"patient-{i // 4}".encode()).hexdigest()[:16]
        token = {"MLO": "ML"}.get(row["View"], row["View"])
        path = root / "AllDICOMs" / f"{name}_{patient}_MG_{row['Laterality']}_{token}_ANON.dcm"
        shape = (40, 32) if i % 2 == 0 else (32, 24)
        write_dicom(
            path,
            rng.integers(0, 4000, size=shape, dtype=np.uint16),
            DicomHeader(patient_id="", bits_stored=14),
        )
        tree.files[name] = path
        tree.patients[name] = patient
        if row["Bi-Rads"].strip() != "1":
            plist = {
                "Images": [
                    {
                        "ImageIndex": 0,
                        "NumberOfROIs": 1,
                        "ROIs": [{"Name": "Calcification", "Point_px": ["(10.5, 12.0)"]}],
                    }
                ]
            }
            xml = root / "AllXML" / f"{name}.xml"
            xml.parent.mkdir(parents=True, exist_ok=True)
            xml.write_bytes(plistlib.dumps(plist))
    shutil.copyfile(csv_path, root / "INbreast.csv")
    return tree
