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

Before any pixel is read, :func:`check_before_decoding` looks at the header alone: one frame,
``Rows x Columns`` within a pixel limit (:data:`MAX_PIXELS` by default, far above a 4096x3328
mammogram), and for a deflated file, a body that does not inflate past a bound (streamed,
nothing kept). Float pixel data (which the standard allows without ``BitsStored``) is checked
for NaN or infinite values anywhere after the LUTs.

Every problem is raised as :class:`~e2e_mammo.errors.DatasetError` naming the file. No
identifier from the header (PatientName, PatientID, ...) is ever put in a message or returned.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut, apply_voi_lut, get_decoder
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ImplicitVRLittleEndian

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


#: Largest image (Rows x Columns) read by default: 50 megapixels, 3.7 times a 4096x3328
#: mammogram. A larger header is refused before its pixels are read.
MAX_PIXELS = 50_000_000
#: Bytes per pixel allowed for a deflated body, plus :data:`HEADER_SLACK` for the header.
DEFLATE_BYTES_PER_PIXEL = 4
HEADER_SLACK = 64 * 2**20
_FLOAT_PIXELS = ("FloatPixelData", "DoubleFloatPixelData")


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


def meta_group_end(path: Path) -> tuple[int, str]:
    """Where the file meta group ends and its transfer syntax, read from the raw bytes (Part 10
    files only; ``(0, "")`` otherwise)."""
    with path.open("rb") as handle:
        head = handle.read(132 + 12)
        if len(head) < 144 or head[128:132] != b"DICM" or head[132:136] != b"\x02\x00\x00\x00":
            return 0, ""
        (length,) = struct.unpack("<I", head[140:144])
        meta = handle.read(min(length, 1 << 16))
    at = meta.find(b"\x02\x00\x10\x00")  # (0002,0010) Transfer Syntax UID, explicit VR
    syntax = ""
    if at >= 0 and meta[at + 4 : at + 6] == b"UI":
        (size,) = struct.unpack("<H", meta[at + 6 : at + 8])
        syntax = meta[at + 8 : at + 8 + size].rstrip(b"\x00 ").decode("ascii", "replace")
    return 144 + length, syntax


def check_deflated_size(path: str | Path, limit: int) -> None:
    """Refuse a deflated DICOM whose body inflates to more than ``limit`` bytes, measured by
    streaming the inflation (at most 1 MiB held at a time) before pydicom inflates it whole."""
    path = Path(path)
    start, syntax = meta_group_end(path)
    if syntax != DeflatedExplicitVRLittleEndian:
        return
    inflater, total = zlib.decompressobj(-zlib.MAX_WBITS), 0
    with path.open("rb") as handle:
        handle.seek(start)
        while chunk := handle.read(1 << 16):
            while chunk:
                try:
                    total += len(inflater.decompress(chunk, 1 << 20))
                except zlib.error as exc:
                    raise DatasetError(path, f"corrupt deflated DICOM body ({exc})") from None
                if total > limit:
                    raise DatasetError(
                        path,
                        f"deflated DICOM body inflates past {limit:,} bytes (a deflate bomb, "
                        "or an image far over the pixel limit): refused before decoding",
                    )
                chunk = inflater.unconsumed_tail
            if inflater.eof:
                break


def _open(path: Path, *, stop_before_pixels: bool, max_pixels: int = MAX_PIXELS) -> Dataset:
    if not path.is_file():
        raise DatasetError(path, "file not found")
    try:
        check_deflated_size(path, max_pixels * DEFLATE_BYTES_PER_PIXEL + HEADER_SLACK)
    except OSError as exc:
        raise DatasetError(path, f"unreadable file: {exc.strerror or exc}") from None
    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError as exc:
        raise DatasetError(path, f"not a DICOM file ({exc})") from None
    except MemoryError:
        raise  # the caller's to report (the converter excludes the image, predict fails it)
    except Exception as exc:  # truncated or corrupt headers raise assorted errors
        raise DatasetError(
            path, f"unreadable DICOM file (corrupt or truncated): {type(exc).__name__}: {exc}"
        ) from None


def read_header(path: str | Path, max_pixels: int = MAX_PIXELS) -> Dataset:
    """The DICOM header of ``path`` without the pixel data (fast; for index scans). A deflated
    body is first measured (:func:`check_deflated_size`), never inflated past the bound that
    ``max_pixels`` sets.

    Raises:
        DatasetError: the file is missing, not DICOM, or its header is corrupt.
    """
    return _open(Path(path), stop_before_pixels=True, max_pixels=max_pixels)


def _header_int(ds: Dataset, key: str, default: int) -> int:
    try:
        return int(ds.get(key, default) or default)
    except (TypeError, ValueError):
        return default


def check_before_decoding(ds: Dataset, path: Path, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse, from the header alone, a multi-frame image or one over ``max_pixels``."""
    frames = _header_int(ds, "NumberOfFrames", 1)
    if frames != 1:
        raise DatasetError(
            path, f"multi-frame image ({frames} frames); expected one 2-D frame (not read)"
        )
    rows, cols = _header_int(ds, "Rows", 0), _header_int(ds, "Columns", 0)
    if rows * cols > max_pixels:
        bits = _header_int(ds, "BitsAllocated", 0)
        raise DatasetError(
            path,
            f"image header claims {rows}x{cols} pixels ({bits} bits allocated), over the "
            f"limit of {max_pixels:,} pixels: refused before decoding (raise the limit if "
            "this image is genuine)",
        )


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
    if not any(k in ds for k in ("PixelData", *_FLOAT_PIXELS)):
        raise DatasetError(path, "no pixel data (PixelData element missing)")
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
    except MemoryError:
        raise
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


def _output_range(ds: Dataset, voi: str, arr: np.ndarray) -> tuple[float, float]:
    """Possible value range after the modality and VOI steps (as pydicom computes it); float
    pixel data has no stored bit depth, so its range is the image's own."""
    if voi == "lut":
        return 0.0, float(2 ** _lut_bits(ds.VOILUTSequence[0]) - 1)
    if any(k in ds for k in _FLOAT_PIXELS) or "BitsStored" not in ds:
        return float(np.min(arr)), float(np.max(arr))
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


def _check_finite(arr: np.ndarray, path: Path) -> None:
    """Refuse NaN or infinite values anywhere (float pixel data, or a LUT that made them)."""
    if arr.dtype.kind != "f":
        return
    bad = arr.size - int(np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise DatasetError(
            path, f"{bad} non-finite pixel value(s) (NaN or infinite) of {arr.size}: refused"
        )


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
        _check_finite(arr, path)
        return arr, modality, voi, _output_range(ds, voi, arr)
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(
            path, f"invalid modality/VOI LUT or window: {type(exc).__name__}: {exc}"
        ) from None


def _open_checked(path: Path, max_pixels: int) -> Dataset:
    """The full dataset, once the header alone passed :func:`check_before_decoding`."""
    check_before_decoding(
        _open(path, stop_before_pixels=True, max_pixels=max_pixels), path, max_pixels
    )
    return _open(path, stop_before_pixels=False, max_pixels=max_pixels)


def read_image_with_info(
    path: str | Path, native: bool = False, max_pixels: int = MAX_PIXELS
) -> tuple[np.ndarray, ImageInfo]:
    """Read a greyscale DICOM image with all LUTs applied, plus its header facts.

    Args:
        path: the DICOM file.
        native: when no LUT, window or inversion changes the values (CBIS-DDSM and INbreast),
            return the stored unsigned integer array itself instead of a float32 copy.
        max_pixels: refuse, before reading the pixels, an image with more (and a deflated body
            that inflates past the matching bound).

    Returns:
        ``(image, info)``: ``image`` is a 2-D float32 array after pixel masking, modality LUT,
        VOI LUT/first window and MONOCHROME1 inversion (or the stored uint8/uint16 array, see
        ``native``); ``info`` is an :class:`ImageInfo`.

    Raises:
        DatasetError: missing/corrupt/truncated file, unsupported or undecodable transfer
            syntax (naming the syntax and the package to install), no pixel data, multi-frame,
            colour or oversized image, non-finite pixel values.
    """
    path = Path(path)
    ds = _open_checked(path, max_pixels)
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


def read_mask(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an 8-bit ROI mask DICOM as a 2-D bool array (``pixel_array > 0``).

    Raises:
        DatasetError: as for :func:`read_image`.
    """
    path = Path(path)
    ds = _open_checked(path, max_pixels)
    uid = _transfer_syntax(ds, path)
    _check_single_grey_frame(ds, path)
    return _pixels(ds, path, uid) > 0


__all__ = [
    "MAX_PIXELS",
    "PLUGIN_FOR_SYNTAX",
    "check_before_decoding",
    "check_deflated_size",
    "ImageInfo",
    "read_header",
    "read_image",
    "read_image_with_info",
    "read_mask",
]
