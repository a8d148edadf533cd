"""Reading mammogram DICOM files into display-ready greyscale arrays.

:func:`read_image` applies the full pydicom pipeline that ``ds.pixel_array`` alone does not
(see ``docs/data-formats.md`` §3):

1. check the transfer syntax; compressed syntaxes are decoded through pydicom's plugins and a
   missing plugin is reported with the package to install;
2. ``pixel_array`` (pydicom 3 clears the bits above BitsStored);
3. the modality LUT (RescaleSlope/RescaleIntercept or a Modality LUT Sequence);
4. the VOI LUT Sequence, else the first window (WindowCenter/WindowWidth), when present;
5. for ``MONOCHROME1``, inversion over the possible output range of steps 2-4
   (``lo + hi - arr``), so the result always reads like ``MONOCHROME2`` (bright = dense).

Every problem is raised as :class:`~e2e_mammo.errors.DatasetError` naming the file. No
identifier from the header (PatientName, PatientID, ...) is ever put in a message or returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut, apply_voi_lut, get_decoder
from pydicom.uid import UID, ImplicitVRLittleEndian

from e2e_mammo.errors import DatasetError

_LIBJPEG = "pylibjpeg and pylibjpeg-libjpeg"
_OPENJPEG = "pylibjpeg and pylibjpeg-openjpeg"

#: The package(s) that let pydicom decode each compressed transfer syntax.
PLUGIN_FOR_SYNTAX: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": _LIBJPEG,  # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51": _LIBJPEG,  # JPEG Extended (Process 2 and 4)
    "1.2.840.10008.1.2.4.57": _LIBJPEG,  # JPEG Lossless (Process 14)
    "1.2.840.10008.1.2.4.70": _LIBJPEG,  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80": _LIBJPEG,  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81": _LIBJPEG,  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90": _OPENJPEG,  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91": _OPENJPEG,  # JPEG 2000
    "1.2.840.10008.1.2.4.201": _OPENJPEG,  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202": _OPENJPEG,  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203": _OPENJPEG,  # HTJ2K
    "1.2.840.10008.1.2.5": "pylibjpeg-rle (pydicom's own RLE decoder is normally enough)",
}


@dataclass(frozen=True)
class ImageInfo:
    """Header facts about an image read by :func:`read_image_with_info` (no identifiers).

    Attributes:
        rows, cols: the stored image size.
        photometric: PhotometricInterpretation (``MONOCHROME1`` or ``MONOCHROME2``).
        transfer_syntax: the Transfer Syntax UID.
        bits_stored: BitsStored.
        output_range: the (low, high) range the values can take after the LUTs (the range
            over which ``MONOCHROME1`` is inverted).
        modality_lut: whether a rescale or Modality LUT changed the values.
        voi: ``"lut"``, ``"window"`` or ``""`` (which VOI transform was applied).
    """

    rows: int
    cols: int
    photometric: str
    transfer_syntax: str
    bits_stored: int
    output_range: tuple[float, float]
    modality_lut: bool
    voi: str


def _syntax_text(uid: UID) -> str:
    name = uid.name if uid.name and uid.name != str(uid) else "unknown transfer syntax"
    return f"{name} ({uid})"


def _plugin_hint(uid: UID) -> str:
    pkg = PLUGIN_FOR_SYNTAX.get(str(uid))
    if pkg is None:
        return "python-gdcm may decode it; otherwise convert the file to an uncompressed syntax"
    return f"install {pkg} (pip install {pkg.replace(' and ', ' ')})"


def _open(path: Path, *, stop_before_pixels: bool) -> Dataset:
    if not path.is_file():
        raise DatasetError(path, "file not found")
    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError as exc:
        raise DatasetError(path, f"not a DICOM file ({exc})") from None
    except Exception as exc:  # truncated or corrupt headers raise assorted errors
        raise DatasetError(
            path, f"unreadable DICOM file (corrupt or truncated): {type(exc).__name__}: {exc}"
        ) from None


def read_header(path: str | Path) -> Dataset:
    """The DICOM header of ``path`` without the pixel data (fast; for index scans).

    Raises:
        DatasetError: the file is missing, not DICOM, or its header is corrupt.
    """
    return _open(Path(path), stop_before_pixels=True)


def _transfer_syntax(ds: Dataset, path: Path) -> UID:
    meta = getattr(ds, "file_meta", None)
    tsuid = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsuid is None:
        # pydicom reads raw datasets as implicit little endian; decoding needs the element set.
        ds.file_meta = meta if meta is not None else pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        return ImplicitVRLittleEndian
    uid = UID(str(tsuid))
    if not uid.is_transfer_syntax:
        raise DatasetError(path, f"unknown transfer syntax {_syntax_text(uid)}")
    if uid.is_compressed:
        try:
            decoder = get_decoder(uid)
        except NotImplementedError:
            raise DatasetError(
                path,
                f"unsupported transfer syntax {_syntax_text(uid)}: pydicom has no decoder "
                f"for it; {_plugin_hint(uid)}",
            ) from None
        if not decoder.is_available:
            raise DatasetError(
                path,
                f"cannot decode transfer syntax {_syntax_text(uid)}: no decoding plugin is "
                f"installed; {_plugin_hint(uid)}",
            )
    return uid


def _check_single_grey_frame(ds: Dataset, path: Path) -> None:
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise DatasetError(path, "no pixel data (PixelData element missing)")
    frames = ds.get("NumberOfFrames", 1)
    try:
        frames = int(frames or 1)
    except (TypeError, ValueError):
        frames = 1
    if frames != 1:
        raise DatasetError(path, f"multi-frame image ({frames} frames); expected one 2-D frame")
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise DatasetError(
            path,
            f"colour or unsupported image (SamplesPerPixel={samples}, "
            f"PhotometricInterpretation={photometric or 'missing'}); expected greyscale "
            "MONOCHROME1/MONOCHROME2",
        )


def _pixels(ds: Dataset, path: Path, uid: UID) -> np.ndarray:
    try:
        arr = ds.pixel_array
    except Exception as exc:
        if uid.is_compressed:
            raise DatasetError(
                path,
                f"decoding {_syntax_text(uid)} failed ({type(exc).__name__}: {exc}); the "
                f"file may be corrupt, or {_plugin_hint(uid)}",
            ) from None
        raise DatasetError(
            path, f"pixel data unreadable (corrupt or truncated): {type(exc).__name__}: {exc}"
        ) from None
    if arr.ndim != 2:
        raise DatasetError(path, f"expected a 2-D image, got pixel array shape {arr.shape}")
    return arr


def _lut_bits(item: Dataset) -> int:
    return int(list(item.LUTDescriptor)[2])


def _output_range(ds: Dataset, voi: str) -> tuple[float, float]:
    """Possible value range after the modality and VOI steps (as pydicom computes it)."""
    if voi == "lut":
        return 0.0, float(2 ** _lut_bits(ds.VOILUTSequence[0]) - 1)
    bits = int(ds.BitsStored)
    if ds.get("ModalityLUTSequence"):
        return 0.0, float(2 ** _lut_bits(ds.ModalityLUTSequence[0]) - 1)
    if int(ds.get("PixelRepresentation", 0)) == 0:
        lo, hi = 0.0, float(2**bits - 1)
    else:
        lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        lo, hi = lo * float(slope) + float(intercept), hi * float(slope) + float(intercept)
    return (lo, hi) if lo <= hi else (hi, lo)


def _apply_luts(
    raw: np.ndarray, ds: Dataset, path: Path
) -> tuple[np.ndarray, bool, str, tuple[float, float]]:
    """Modality LUT, then the VOI LUT or first window. Returns the values, whether the
    modality LUT changed them, the VOI transform (``"lut"``, ``"window"`` or ``""``) and the
    output range."""
    try:
        arr = apply_modality_lut(raw, ds)
        modality = arr is not raw
        voi = ""
        if ds.get("VOILUTSequence"):
            voi = "lut"
        elif "WindowCenter" in ds and "WindowWidth" in ds:
            voi = "window"
        if voi:
            arr = apply_voi_lut(arr, ds, index=0, prefer_lut=True)
        return arr, modality, voi, _output_range(ds, voi)
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(
            path, f"invalid modality/VOI LUT or window: {type(exc).__name__}: {exc}"
        ) from None


def read_image_with_info(path: str | Path, native: bool = False) -> tuple[np.ndarray, ImageInfo]:
    """Read a greyscale DICOM image with all LUTs applied, plus its header facts.

    Args:
        path: the DICOM file.
        native: when no LUT, window or inversion changes the values (CBIS-DDSM and INbreast),
            return the stored unsigned integer array itself instead of a float32 copy.

    Returns:
        ``(image, info)``: ``image`` is a 2-D float32 array after pixel masking, modality LUT,
        VOI LUT/first window and MONOCHROME1 inversion (or the stored uint8/uint16 array, see
        ``native``); ``info`` is an :class:`ImageInfo`.

    Raises:
        DatasetError: missing/corrupt/truncated file, unsupported or undecodable transfer
            syntax (naming the syntax and the package to install), no pixel data, multi-frame
            or colour image.
    """
    path = Path(path)
    ds = _open(path, stop_before_pixels=False)
    uid = _transfer_syntax(ds, path)
    _check_single_grey_frame(ds, path)
    raw = _pixels(ds, path, uid)
    arr, modality, voi, (lo, hi) = _apply_luts(raw, ds, path)

    photometric = str(ds.PhotometricInterpretation).strip().upper()
    unchanged = not modality and not voi and photometric != "MONOCHROME1"
    if native and unchanged and raw.dtype in (np.uint8, np.uint16):
        image = raw
    else:
        image = np.asarray(arr, dtype=np.float32)
    if photometric == "MONOCHROME1":
        image = np.float32(lo + hi) - image
    info = ImageInfo(
        rows=int(raw.shape[0]),
        cols=int(raw.shape[1]),
        photometric=photometric,
        transfer_syntax=str(uid),
        bits_stored=int(ds.get("BitsStored", raw.dtype.itemsize * 8)),
        output_range=(lo, hi),
        modality_lut=bool(modality),
        voi=voi,
    )
    return image, info


def read_image(path: str | Path) -> np.ndarray:
    """Read a greyscale DICOM image as a 2-D float32 array with all LUTs applied.

    See :func:`read_image_with_info` for the steps and the errors raised.
    """
    return read_image_with_info(path)[0]


def read_mask(path: str | Path) -> np.ndarray:
    """Read an 8-bit ROI mask DICOM as a 2-D bool array (``pixel_array > 0``).

    Raises:
        DatasetError: as for :func:`read_image`.
    """
    path = Path(path)
    ds = _open(path, stop_before_pixels=False)
    uid = _transfer_syntax(ds, path)
    _check_single_grey_frame(ds, path)
    return _pixels(ds, path, uid) > 0


__all__ = [
    "PLUGIN_FOR_SYNTAX",
    "ImageInfo",
    "read_header",
    "read_image",
    "read_image_with_info",
    "read_mask",
]
