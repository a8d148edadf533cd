"""Index a real CBIS-DDSM download (TCIA / NBIA Data Retriever) into ``images.csv``/``rois.csv``.

Input (``docs/data-formats.md`` §1):

- ``ROOT/CBIS-DDSM/<SubjectID>/...`` in either retriever layout: *classic*
  ``<StudyUID>/<SeriesUID>/*.dcm`` or *descriptive*
  ``<date>-DDSM[-NA]-<last5 StudyUID>/<1|1.000000>-<description>-<last5 SeriesUID>/*.dcm``;
- optionally ``ROOT/metadata.csv`` (retriever output; ``Series UID`` -> ``File Location``);
- the four case-description CSVs in ``csv_dir`` (default ``ROOT``). Any subset of the four is
  accepted (e.g. a user with only the mass data): the files found are logged, a missing one is a
  logged warning, none at all is a :class:`~e2e_mammo.errors.DatasetError`. Every file present must
  be well-formed (comma-separated, not empty, all required columns).

Decisions (all problems other than the hard errors below become rows of ``exclusions.csv``, or
raise at the first one when ``strict=True``):

- **Unit = one scan** = one (patient, side, view). Normally that is one full image, named by the
  SubjectID of ``image file path`` (e.g. ``Mass-Training_P_00001_LEFT_CC``). The real CSVs list
  71 views under both a ``Mass-`` and a ``Calc-`` SubjectID: two DICOMs with different UIDs of
  the same scan (data-formats §1.1). Such a *dual-listed* view becomes **one** image:

  * its official set (``split``) is that of its listings when they agree; when one listing is in
    a train CSV and the other in a test CSV it is ``official_overlap`` (default ``test``): the
    rule :func:`~e2e_mammo.preprocess.splits.official_side`, which the official split also
    applies to patients found in both official sets;
  * the DICOM kept, whose SubjectID becomes the ``image_id``, is chosen in this order: a listing
    whose own official set is the view's; then the order of :data:`CSV_FILES` (mass train, mass
    test, calc train, calc test: the mass listing wins a tie). When that listing's full image is
    missing, ambiguous or unreadable, the next listing's DICOM is kept instead (same pixels);
  * its ROIs are the rows of all its listings, re-keyed to the kept ``image_id`` (``roi_id`` stays
    the ROI's own SubjectID); an abnormality id already taken by an earlier listing becomes the
    next free id after the image's highest (never needed on the real CSVs, which number the ROIs
    of one view across the two lists);
  * every other listing is a row of ``exclusions.csv``: item = its SubjectID, source = its DICOM,
    reason ``duplicate of <kept image_id> ...``. That row records the data, not a problem with
    it: it is written even with ``strict=True``.

- **Label** = 1 iff any CSV row of the image has pathology ``MALIGNANT`` (``BENIGN`` and
  ``BENIGN_WITHOUT_CALLBACK`` count 0; ``assessment`` is not used). It is computed from *all* CSV
  rows of the image, because pathology comes from the CSV, not from the ROI files. Consequently:

  * if a CSV row of an image is invalid (unknown pathology, missing value, malformed path, subject
    mismatch, conflicting duplicate), the whole image is excluded, since its label would otherwise
    rest on a subset of its rows (for a dual-listed view: every listing of the view);
  * an exact duplicate row is excluded and the image kept (the duplicate adds nothing);
  * if a ROI's *files* fail (folder missing, unreadable DICOM, no identifiable mask, mask without
    foreground), only that ROI is left out of ``rois.csv``; the image stays, labelled from all its
    rows (``n_rois`` vs ``n_rois_indexed`` in ``images.csv`` shows it). An image whose **every** ROI
    failed is excluded itself.
- **Files**: the ``000000.dcm``/``000001.dcm`` names in the CSV are ignored. The full image is
  the one ``.dcm`` of the series folder found via ``metadata.csv`` (when present and pointing at
  an existing folder) or else via the UIDs (folder named by the full UID, or ending in
  ``-<last 5 digits>``); a series with several ``.dcm`` files is excluded. For a ROI, *all*
  ``.dcm`` files under the ROI subject folder ``<image SubjectID>_<abnormality id>`` are
  collected (one 2-file series or two 1-file series) and told apart **by content**: headers
  first (``stop_before_pixels``), pixels only for mask candidates (8-bit files, or, failing
  those, large files): the mask is binary (values in ``{0, v}``), preferring the size closest
  to the full image; the crop is the remaining non-binary file. File names and series
  descriptions are never trusted. A ROI without a crop is kept (empty ``crop_path``, noted in
  the exclusions as ``<roi_id>:crop``).
- A mask whose size differs from its full image is kept; ``mask_rows``/``mask_cols``,
  ``image_rows``/``image_cols`` and ``mask_matches_image`` let later stages resize (and report).
- ``.dcm`` files under ``CBIS-DDSM/`` that no CSV row refers to are listed in ``exclusions.csv``.
- A truncated DICOM is detected from its size (fewer bytes after the header than its declared
  pixel data needs); an unreadable one (not DICOM, garbled header) is excluded naming the file.
- The tree is scanned once (``os.scandir`` + ``os.walk``); ``metadata.csv`` without the
  ``Series UID``/``File Location`` columns is ignored with a warning (the UID scan is exact anyway).

Hard errors (``DatasetError`` even when not strict): ROOT missing or without ``CBIS-DDSM/``; none
of the four description CSVs in ``csv_dir``; a present CSV that is empty, not comma-separated or
lacks a required column.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from e2e_mammo.datasets.cbis_ddsm.descriptions import (
    DATASET,
    IMAGE_COLUMNS,
    ROI_COLUMNS,
    TREE_DIR,
    aggregate_images,
    check_rows,
    read_description_csvs,
)
from e2e_mammo.datasets.cbis_ddsm.listings import merge_listings, plan_listings
from e2e_mammo.datasets.cbis_ddsm.rois import index_roi
from e2e_mammo.datasets.cbis_ddsm.tree import (
    FullImage,
    Tree,
    choose_full_images,
    read_metadata,
    scan_tree,
)
from e2e_mammo.datasets.indexing import (
    ExclusionLog,
    IndexResult,
    finish_index,
    require_dataset_folder,
)

log = logging.getLogger(__name__)


def _index_images(
    merged: pd.DataFrame, full: dict[str, FullImage], tree: Tree, xlog: ExclusionLog
) -> tuple[list[dict], list[dict]]:
    """images.csv and rois.csv records of the merged rows (one image per kept listing)."""
    info = aggregate_images(merged).set_index("image_id")
    images: list[dict] = []
    rois: list[dict] = []
    for image_id, image_rows in merged.groupby("image_id", sort=True):
        image = full[image_id]
        assert image.header is not None
        shape = (image.header.rows, image.header.cols)
        records, failures = [], []
        for _, row in image_rows.iterrows():
            record, why = index_roi(row, tree, shape, xlog)
            if record is None:
                failures.append(f"{row['roi_id']}: {why}")
            else:
                records.append(record)
        if not records:
            first = image_rows.iloc[0]
            reason = "image excluded: none of its ROIs is usable (" + "; ".join(failures) + ")"
            xlog.exclude(image_id, first["source"], reason, row=int(first["source_row"]))
            continue
        common = {"image_id": image_id, "split": info.loc[image_id, "split"]}
        rois.extend(
            {**r, **common, "image_rows": shape[0], "image_cols": shape[1]} for r in records
        )
        images.append(_image_record(image_id, info.loc[image_id], image, len(records)))
    return images, rois


def _image_record(image_id: str, info: pd.Series, image: FullImage, indexed: int) -> dict:
    """The images.csv record of one image (``info``: its row of :func:`aggregate_images`)."""
    assert image.header is not None
    return {
        "dataset": DATASET,
        "image_id": image_id,
        "patient_id": info["patient_id"],
        "laterality": info["laterality"],
        "view": info["view"],
        "label": int(info["label"]),
        "split": info["split"],
        "dicom_path": image.path,
        "abnormality_types": info["abnormality_types"],
        "pathologies": info["pathologies"],
        "breast_density": info["breast_density"],
        "n_rois": int(info["n_rois"]),
        "n_rois_indexed": indexed,
        "image_rows": image.header.rows,
        "image_cols": image.header.cols,
        "source": info["source"],
    }


def _subject_files(tree: Tree, subjects: set[str]) -> set[str]:
    """Every .dcm file under the subject folders ``subjects`` (names not in the tree ignored)."""
    return {f for s in subjects for files in tree.get(s, {}).values() for f in files}


def _exclude_unreferenced(tree: Tree, claimed: set[str], xlog: ExclusionLog) -> None:
    """List every .dcm file under ``CBIS-DDSM/`` that is not in ``claimed``: files of subjects no
    CSV row names, and files of a full-image subject outside the series its row points at."""
    for subject, dirs in tree.items():
        for files in dirs.values():
            for path in files:
                if path not in claimed:
                    xlog.exclude(subject, path, "DICOM file that no description CSV row refers to")


def index_cbis_ddsm(
    root: Path,
    out: Path,
    csv_dir: Path | None = None,
    strict: bool = False,
    official_overlap: str = "test",
) -> IndexResult:
    """Index a CBIS-DDSM download into ``OUT/images.csv``, ``rois.csv`` and ``exclusions.csv``.

    Args:
        root: folder holding ``CBIS-DDSM/`` (and ``metadata.csv`` when present).
        out: output folder (created if missing).
        csv_dir: folder of the description CSVs (default ``root``).
        strict: raise :class:`DatasetError` at the first problem instead of excluding.
        official_overlap: official set (``train``/``test``) of a view listed in both
            (``split.cbis_ddsm.official_overlap`` in params.yaml).

    Returns:
        :class:`IndexResult` with ``images`` (:data:`IMAGE_COLUMNS`), ``rois``
        (:data:`ROI_COLUMNS`) and the exclusions. See the module docstring for the rules.
    """
    root, out = Path(root), Path(out)
    base = require_dataset_folder(
        root,
        TREE_DIR,
        "CBIS-DDSM",
        f"not a CBIS-DDSM download: expected a folder {TREE_DIR}/ (holding one folder per "
        "SubjectID) inside this folder",
    )
    xlog = ExclusionLog(strict)
    described = read_description_csvs(root if csv_dir is None else Path(csv_dir))
    rows = check_rows(described, xlog)
    listings = plan_listings(rows, official_overlap)
    tree = scan_tree(base)
    listings, full, claimed = choose_full_images(listings, rows, tree, read_metadata(root), xlog)
    images, rois = _index_images(merge_listings(rows, listings), full, tree, xlog)
    unusable = set(described["image_id"]) - set(rows["image_id"])
    claimed |= _subject_files(tree, {*described["roi_id"], *unusable})
    _exclude_unreferenced(tree, claimed, xlog)
    roi_frame = pd.DataFrame(rois, columns=ROI_COLUMNS)
    roi_frame = roi_frame.sort_values(["image_id", "abnormality_id"]).reset_index(drop=True)
    return finish_index(
        out, pd.DataFrame(images, columns=IMAGE_COLUMNS), roi_frame, xlog, "CBIS-DDSM"
    )
