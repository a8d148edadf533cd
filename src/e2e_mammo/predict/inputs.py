"""The images ``e2e-mammo predict`` scores: finding them and reading them as the pipeline did.

:func:`find_inputs` turns the command line's files and folders into a list of images. A file
named on the command line is always tried (and fails with a reason when it is neither DICOM nor
PNG); a folder is searched recursively for ``.dcm``/``.dicom``/``.png`` files and files without
an extension that carry DICOM's ``DICM`` marker; its other files are listed as ignored.

:func:`read_input` gives the network's input exactly as training saw it: a DICOM goes through
the converter's reader (modality LUT, VOI LUT or window, MONOCHROME1 inversion:
:mod:`e2e_mammo.preprocess.dicom`) and resize (``INTER_AREA``, the bundle's intensity mapping:
:mod:`e2e_mammo.preprocess.convert`); a PNG (8- or 16-bit grey) takes the same resize and
mapping, so a PNG the converter wrote is used as it is. Every problem is an
:class:`InputError` with a reason for ``failures.csv``; no header identifier is ever read into
a message or a result.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from e2e_mammo.errors import DatasetError
from e2e_mammo.predict.views import Views, combine, header_views, views_from_name
from e2e_mammo.preprocess.convert import resize_image

DICOM_SUFFIXES = (".dcm", ".dicom")
PNG_SUFFIX = ".png"
#: DICOM Modality of a mammogram.
MAMMOGRAPHY = "MG"
#: A side shorter than this share of the model's input side is "far smaller" (not a mammogram).
MIN_SCALE = 0.5
#: More than this share of pixels at the image's min or max: a binary image (an ROI mask).
BINARY_SHARE = 0.98


class InputError(Exception):
    """An input that cannot be scored; ``reason`` goes to ``failures.csv``."""

    def __init__(self, reason: str, step: str = "read") -> None:
        super().__init__(reason)
        self.reason, self.step = reason, step


@dataclass(frozen=True)
class InputFile:
    """One image to score: its path, its index (path below the input folder, no extension)
    and its format (``dicom``/``png``/``unknown``)."""

    path: Path
    image_index: str
    kind: str


@dataclass
class Found:
    """What :func:`find_inputs` found: images, unusable command-line paths, ignored files."""

    images: list[InputFile] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    ignored: list[str] = field(default_factory=list)


def _has_dicom_marker(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def file_kind(path: Path) -> str:
    """``dicom``, ``png`` or ``unknown``, by suffix, then by the file's first bytes."""
    suffix = path.suffix.lower()
    if suffix in DICOM_SUFFIXES:
        return "dicom"
    if suffix == PNG_SUFFIX:
        return "png"
    if _has_dicom_marker(path):
        return "dicom"
    try:
        with path.open("rb") as handle:
            if handle.read(8) == b"\x89PNG\r\n\x1a\n":
                return "png"
    except OSError:
        pass
    return "unknown"


def _known_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    return suffix if suffix in (*DICOM_SUFFIXES, PNG_SUFFIX) else ""


def _folder_images(folder: Path, exclude: Path | None) -> tuple[list[Path], list[str]]:
    """Images below ``folder`` (sorted), and the other files; hidden files and anything under
    ``exclude`` (predict's own output folder) are passed over."""
    images, ignored = [], []
    skip = exclude.resolve() if exclude is not None else None
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).parts
        if any(part.startswith(".") for part in relative):
            continue
        if skip is not None and path.resolve().is_relative_to(skip):
            continue
        # PACS exports name files by UID (``1.2.840....504``): no known suffix, check the marker
        if _known_suffix(path) or _has_dicom_marker(path):
            images.append(path)
        else:
            ignored.append(str(path))
    return images, ignored


def _index(path: Path, base: Path | None, prefix: str) -> str:
    """``path`` below ``base`` (or as given), ``prefix/`` first, a known suffix removed."""
    relative = path.relative_to(base).as_posix() if base is not None else path.as_posix()
    suffix = _known_suffix(path)
    if suffix:
        relative = relative[: -len(suffix)]
    return f"{prefix}/{relative}" if prefix else relative


def _unique(index: str, taken: set[str]) -> str:
    candidate, n = index, 1
    while candidate in taken:
        n += 1
        candidate = f"{index}~{n}"
    taken.add(candidate)
    return candidate


def find_inputs(paths: Sequence[str | Path], exclude: Path | None = None) -> Found:
    """The images named by ``paths`` (files and folders), in order, each once.

    An image's index is its path below the folder named (a single folder: below it alone;
    several arguments: below each, prefixed with the folder as given) or, for a file named
    directly, its path as given; a known suffix is dropped and a clash gets ``~2``, ``~3``...
    ``exclude`` (the output folder) is never searched.
    """
    found = Found()
    seen: set[Path] = set()
    taken: set[str] = set()
    several = len(paths) > 1
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files, ignored = _folder_images(path, exclude)
            found.ignored += ignored
            prefix = path.as_posix().rstrip("/") if several else ""
            pairs = [(f, _index(f, path, prefix)) for f in files]
        elif path.is_file():
            pairs = [(path, _index(path, None, ""))]
        else:
            found.missing.append((str(path), "no such file or folder"))
            continue
        for file, index in pairs:
            if file.resolve() in seen:
                continue
            seen.add(file.resolve())
            found.images.append(InputFile(file, _unique(index, taken), file_kind(file)))
    return found


@dataclass
class LoadedImage:
    """An input ready for the network: ``pixels`` uint16 at the model's size, what is known of
    its views, its original size, its study (only to group an exam; never written)."""

    item: InputFile
    pixels: np.ndarray
    views: Views
    original_size: tuple[int, int]
    study: str = ""
    notes: list[str] = field(default_factory=list)


def _read_dicom(path: Path) -> tuple[np.ndarray, tuple[str, str], str]:
    """The image after the LUTs, (laterality, view) from the header and the study UID (kept in
    memory only). pydicom's warnings are silenced: a malformed value's warning quotes it."""
    from e2e_mammo.preprocess.dicom import read_header, read_image_with_info

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            header = read_header(path)
            modality = str(header.get("Modality", "") or "").strip().upper()
            if modality and modality != MAMMOGRAPHY:
                raise InputError(f"not a mammogram: DICOM Modality is {modality!r}, expected 'MG'")
            image, _ = read_image_with_info(path, native=True)
        except DatasetError as exc:
            raise InputError(exc.problem) from None
        return image, header_views(header), str(header.get("StudyInstanceUID", "") or "")


def study_uid(path: Path) -> str:
    """A DICOM's StudyInstanceUID (in memory only, to group an exam), or ``""``."""
    from e2e_mammo.preprocess.dicom import read_header

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return str(read_header(path).get("StudyInstanceUID", "") or "")
        except Exception:
            return ""


def _read_png(path: Path) -> np.ndarray:
    cv2.utils.logging.setLogLevel(0)  # a broken file goes to failures.csv, not to the log
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError("unreadable PNG (corrupt or truncated, or not a PNG)")
    if image.ndim == 3:
        colour = image[..., :3]
        if not (
            np.array_equal(colour[..., 0], colour[..., 1])
            and np.array_equal(colour[..., 0], colour[..., 2])
        ):
            raise InputError(
                f"colour image ({image.shape[2]} channels that differ): expected a greyscale "
                "mammogram"
            )
        image = np.ascontiguousarray(colour[..., 0])
    if image.dtype == np.uint8:
        return image  # scaled to 16 bits by the caller when it is resized
    if image.dtype != np.uint16:
        raise InputError(f"unsupported PNG sample type {image.dtype}: expected 8 or 16 bits")
    return image


def check_image(image: np.ndarray, model_size: Sequence[int], min_scale: float) -> None:
    """Raise :class:`InputError` for an image far smaller than ``model_size`` or binary."""
    rows, cols = image.shape
    height, width = model_size
    if rows < min_scale * height or cols < min_scale * width:
        raise InputError(
            f"image is {rows}x{cols}, far smaller than the model's input {height}x{width} "
            f"(a side under {min_scale:g} of the model's): not a full mammogram?",
            "check",
        )
    lo, hi, _, _ = cv2.minMaxLoc(image)
    if hi > lo:
        extremes = np.count_nonzero(image == image.dtype.type(lo))
        extremes += np.count_nonzero(image == image.dtype.type(hi))
        if extremes > BINARY_SHARE * image.size:
            raise InputError("binary image (only two grey levels): an ROI mask?", "check")


def _to_model_input(
    image: np.ndarray, item: InputFile, preprocess: Mapping[str, Any], min_scale: float
) -> np.ndarray:
    size = tuple(int(s) for s in preprocess["image_size"])
    check_image(image, size, min_scale)
    if item.kind == "png" and image.shape == size and image.dtype == np.uint16:
        return image  # the converter's PNG (or one like it): training reads it as it is
    if image.dtype == np.uint8:
        image = image.astype(np.uint16) * np.uint16(257)  # 8 bits on the 16-bit scale
    try:
        return resize_image(image, size, preprocess["intensity"])[0]
    except ValueError as exc:
        raise InputError(str(exc), "preprocess") from None


def read_input(
    item: InputFile, preprocess: Mapping[str, Any], min_scale: float = MIN_SCALE
) -> LoadedImage:
    """Read, check and resize one input as the bundle's ``preprocess`` says: a DICOM through
    the converter's reader, resize and intensity mapping; a PNG the same way, except that a
    16-bit PNG already at the model's size is used as it is (as training reads the converter's
    PNGs)."""
    header, study = None, ""
    if item.kind == "dicom":
        image, header, study = _read_dicom(item.path)
    elif item.kind == "png":
        image = _read_png(item.path)
    else:
        raise InputError("not a DICOM or PNG file")
    pixels = _to_model_input(image, item, preprocess, min_scale)
    if pixels.min() == pixels.max():
        raise InputError("constant image after preprocessing: nothing to score", "preprocess")
    views = combine(header, views_from_name(item.image_index), "", "")
    return LoadedImage(item, pixels, views, (int(image.shape[0]), int(image.shape[1])), study)
