"""Writing DICOM files in the exact shape of the real datasets (used by the synthetic generator
and the tests).

CBIS-DDSM files are Secondary Capture objects in Implicit VR Little Endian, MONOCHROME2, with the
side in Laterality (0020,0060) and the view abused into PatientOrientation (0020,0020). INbreast
files are MG objects with 16 bits allocated and 14-bit content. See
``docs/data-formats.md`` for the sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from e2e_mammo.io import atomic_write

DIGITAL_MAMMOGRAPHY_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.2")
_PREFIX = "1.3.6.1.4.1.9590.100.1.2."


def make_uid(rng: np.random.Generator) -> str:
    """A deterministic UID in the CBIS-DDSM root (``1.3.6.1.4.1.9590.100.1.2.`` + 39 digits)."""
    digits = "".join(str(d) for d in rng.integers(0, 10, size=39))
    return _PREFIX + str(int(digits[0]) or 1) + digits[1:]


def _file_meta(sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str) -> FileMetaDataset:
    """The file meta information (group 0002) of a file."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = UID("1.2.40.0.13.1.1.1")
    return meta


def _set_pixels(ds: Dataset, pixels: np.ndarray, photometric: str, bits_stored: int | None) -> None:
    """The image pixel module: greyscale, unsigned, little-endian pixel data."""
    bits_allocated = pixels.dtype.itemsize * 8
    bits_stored = bits_allocated if bits_stored is None else bits_stored
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels).astype(pixels.dtype.newbyteorder("<")).tobytes()


@dataclass(frozen=True)
class DicomHeader:
    """What a written file says besides its pixels; ``None`` leaves an attribute out.

    Attributes:
        patient_id: PatientID and PatientName (the dataset's own anonymised ID).
        study_uid, series_uid: UIDs; generated when ``None``.
        sop_class_uid: SOP Class (Secondary Capture for CBIS-DDSM).
        transfer_syntax: an uncompressed transfer syntax UID.
        photometric: ``MONOCHROME2`` or ``MONOCHROME1``.
        bits_stored: BitsStored (defaults to BitsAllocated).
        laterality, image_laterality: (0020,0060) and (0020,0062) when given.
        patient_orientation: (0020,0020), where CBIS-DDSM stores the view.
        view_position: (0018,5101) when given.
        series_description, study_date, modality: header text.
        rescale: (slope, intercept) for the modality LUT, when given.
        window: (center, width) for the VOI LUT, when given.
        extra: further keyword -> value pairs set on the dataset (after everything else).
        sop_instance_uid: SOPInstanceUID; generated (random) when ``None``. Pass one for
            byte-for-byte reproducible files.
    """

    patient_id: str
    study_uid: str | None = None
    series_uid: str | None = None
    sop_class_uid: str = SecondaryCaptureImageStorage
    transfer_syntax: str = ImplicitVRLittleEndian
    photometric: str = "MONOCHROME2"
    bits_stored: int | None = None
    laterality: str | None = None
    image_laterality: str | None = None
    patient_orientation: str | None = None
    view_position: str | None = None
    series_description: str = ""
    study_date: str = ""
    modality: str = "MG"
    rescale: tuple[float, float] | None = None
    window: tuple[float, float] | None = None
    extra: dict[str, object] | None = None
    sop_instance_uid: str | None = None


def _set_study_header(ds: Dataset, header: DicomHeader) -> None:
    """Patient, study and series attributes (the dataset's own anonymised ID only)."""
    secondary_capture = header.sop_class_uid == SecondaryCaptureImageStorage
    ds.StudyInstanceUID = header.study_uid or generate_uid()
    ds.SeriesInstanceUID = header.series_uid or generate_uid()
    ds.PatientID = header.patient_id
    ds.PatientName = header.patient_id
    ds.StudyID = "DDSM" if secondary_capture else ""
    ds.StudyDate = header.study_date
    ds.Modality = header.modality
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SeriesDescription = header.series_description
    ds.BodyPartExamined = "BREAST"
    if secondary_capture:
        ds.ConversionType = "WSD"


def _set_optional_tags(ds: Dataset, header: DicomHeader) -> None:
    """The keywords given (not ``None``), the modality and VOI LUTs, and ``extra`` last (it may
    override anything)."""
    optional = {
        "Laterality": header.laterality,
        "ImageLaterality": header.image_laterality,
        "PatientOrientation": header.patient_orientation,
        "ViewPosition": header.view_position,
    }
    for keyword, value in optional.items():
        if value is not None:
            setattr(ds, keyword, value)
    if header.rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = header.rescale
        ds.RescaleType = "US"
    if header.window is not None:
        ds.WindowCenter, ds.WindowWidth = header.window
    for key, value in (header.extra or {}).items():
        setattr(ds, key, value)


def write_dicom(path: str | Path, pixels: np.ndarray, header: DicomHeader) -> Path:
    """Write ``pixels`` (uint8 or uint16, 2-D) as a single-frame greyscale DICOM file described
    by ``header``; parent folders are created and the file is written atomically (temporary
    name, then rename). Returns the path written."""
    if pixels.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D image, got shape {pixels.shape}")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{path}: expected uint8 or uint16 pixels, got {pixels.dtype}")
    sop_instance_uid = header.sop_instance_uid or generate_uid()
    ds = Dataset()
    ds.file_meta = _file_meta(header.sop_class_uid, sop_instance_uid, header.transfer_syntax)
    ds.SOPClassUID = UID(header.sop_class_uid)
    ds.SOPInstanceUID = sop_instance_uid
    _set_study_header(ds, header)
    _set_pixels(ds, pixels, header.photometric, header.bits_stored)
    _set_optional_tags(ds, header)  # after the pixels: ``extra`` may override
    return atomic_write(path, lambda tmp: ds.save_as(tmp, enforce_file_format=True))


__all__ = [
    "DIGITAL_MAMMOGRAPHY_PRESENTATION",
    "DicomHeader",
    "ExplicitVRLittleEndian",
    "ImplicitVRLittleEndian",
    "make_uid",
    "write_dicom",
]
