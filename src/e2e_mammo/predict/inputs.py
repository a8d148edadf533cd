"""The images ``e2e-mammo predict`` scores: finding them and reading them as the pipeline did.

:func:`find_inputs` turns the command line's files and folders into a list of images. A file
named on the command line is always tried (and fails with a reason when it is neither DICOM nor
PNG); a folder is searched recursively for ``.dcm``/``.dicom``/``.png`` files and files without
an extension that carry DICOM's ``DICM`` marker; its other files are listed as ignored.

:func:`read_input` gives the network's input exactly as training saw it: a DICOM goes through
the converter's reader (modality LUT, VOI LUT or window, MONOCHROME1 inversion:
:mod:`e2e_mammo.preprocess.dicom`) and resize (``INTER_AREA``, the bundle's intensity mapping:
:mod:`e2e_mammo.preprocess.convert.pixels`); a PNG (8- or 16-bit grey) takes the same resize and
mapping, so a PNG the converter wrote is used as it is. Every problem is an
:class:`InputError` with a reason for ``failures.csv``; no header identifier is ever read into
a message or a result.

Nothing is decoded before its header passed: a DICOM's frames, ``Rows x Columns`` and (when
deflated) the inflated size of its body (:mod:`e2e_mammo.preprocess.dicom`), a PNG's ``IHDR``
size, both against :attr:`ReadOptions.max_pixels`; then the clinical gating of
:mod:`.gating` (DICOMDIR and non-image objects ignored, FOR PROCESSING and non-MG refused).
Names are kept as the file system gave them for reading and written through a
:class:`~.names.Namer` (printable text, or keyed hashes).
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from e2e_mammo.errors import DatasetError
from e2e_mammo.predict.gating import Gate, NotAnImage, burned_in_annotation, not_an_image, refusal
from e2e_mammo.predict.names import Namer
from e2e_mammo.predict.views import Views, combine, header_views, views_from_name
from e2e_mammo.preprocess.convert.pixels import resize_image
from e2e_mammo.preprocess.dicom import MAX_PIXELS

DICOM_SUFFIXES = (".dcm", ".dicom")
PNG_SUFFIX = ".png"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
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
class ReadOptions:
    """How inputs are read: the smallest side accepted (share of the model's input side), the
    largest image (pixels, checked from the header before decoding), the clinical gate."""

    min_scale: float = MIN_SCALE
    max_pixels: int = MAX_PIXELS
    gate: Gate = field(default_factory=Gate)


@dataclass(frozen=True)
class InputFile:
    """One image to score: its path (as the file system gave it), its index (path below the
    input folder, no extension, as outputs write it), its format (``dicom``/``png``/
    ``unknown``), the ``file`` text outputs write and the index as found (``source``: read
    for laterality and view, never written)."""

    path: Path
    image_index: str
    kind: str
    file_label: str = ""
    source: str = ""

    @property
    def file(self) -> str:
        return self.file_label or Namer()(str(self.path))

    @property
    def name(self) -> str:
        return self.source or self.image_index


@dataclass
class Found:
    """What :func:`find_inputs` found: images, unusable command-line paths (``(file,
    reason)``, as outputs write them) and ignored files."""

    images: list[InputFile] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)
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


def _walk(folder: Path, skip: Path | None, unreadable: list[tuple[Path, str]]) -> list[Path]:
    """Every file below ``folder`` (not hidden, not under ``skip``), sorted by bytes; a folder
    that cannot be listed goes to ``unreadable``."""
    files = []

    def onerror(exc: OSError) -> None:
        unreadable.append((Path(exc.filename or folder), exc.strerror or str(exc)))

    for top, dirs, names in os.walk(folder, onerror=onerror):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        here = Path(top)
        if skip is not None and here.resolve().is_relative_to(skip):
            dirs[:] = []
            continue
        files += [here / n for n in names if not n.startswith(".")]
    return sorted(files, key=lambda p: os.fsencode(p))


def _folder_images(
    folder: Path, exclude: Path | None, unreadable: list[tuple[Path, str]]
) -> tuple[list[Path], list[Path]]:
    """Images below ``folder`` (sorted), and the other files; hidden files and anything under
    ``exclude`` (predict's own output folder) are passed over. A file that vanishes or cannot
    be stat'ed while listed is left to the reader (which fails it alone)."""
    images, ignored = [], []
    skip = exclude.resolve() if exclude is not None else None
    for path in _walk(folder, skip, unreadable):
        # PACS exports name files by UID (``1.2.840....504``): no known suffix, check the marker
        if _known_suffix(path) or _has_dicom_marker(path):
            images.append(path)
        elif path.is_file():
            ignored.append(path)
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


def _pairs(path: Path, several: bool, exclude: Path | None, found: Found, namer: Namer):
    """(file, index) of the images ``path`` names; its ignored and unlistable files go to
    ``found``."""
    if path.is_dir():
        unreadable: list[tuple[Path, str]] = []
        files, ignored = _folder_images(path, exclude, unreadable)
        found.ignored += [namer(str(f)) for f in ignored]
        found.missing += [(namer(str(p)), f"cannot list folder: {why}") for p, why in unreadable]
        prefix = path.as_posix().rstrip("/") if several else ""
        return [(f, _index(f, path, prefix)) for f in files]
    if path.is_file():
        return [(path, _index(path, None, ""))]
    found.missing.append((namer(str(path)), "no such file or folder"))
    return []


def find_inputs(
    paths: Sequence[str | Path], exclude: Path | None = None, namer: Namer | None = None
) -> Found:
    """The images named by ``paths`` (files and folders), in order, each once.

    An image's index is its path below the folder named (a single folder: below it alone;
    several arguments: below each, prefixed with the folder as given) or, for a file named
    directly, its path as given; a known suffix is dropped and a clash gets ``~2``, ``~3``...
    ``exclude`` (the output folder) is never searched. Names are written as ``namer`` says
    (printable by default). A file that vanishes while listed is still listed (its read fails).
    """
    namer = namer or Namer()
    found = Found()
    seen: set[Path] = set()
    taken: set[str] = set()
    for given in paths:
        for file, index in _pairs(Path(given), len(paths) > 1, exclude, found, namer):
            try:
                real = file.resolve()
            except (OSError, RuntimeError):
                real = file.absolute()
            if real in seen:
                continue
            seen.add(real)
            label = _unique(namer(index), taken)
            found.images.append(
                InputFile(file, label, file_kind(file), namer(str(file)), source=index)
            )
    return found


@dataclass
class LoadedImage:
    """An input ready for the network: ``pixels`` uint16 at the model's size, what is known of
    its views, its original size, its study (only to group an exam; never written), whether
    its header declares burned-in annotation, and its journal key."""

    item: InputFile
    pixels: np.ndarray
    views: Views
    original_size: tuple[int, int]
    study: str = ""
    burned_in: bool = False
    key: str = ""


@dataclass(frozen=True)
class _Dicom:
    image: np.ndarray
    views: tuple[str, str]
    study: str
    burned_in: bool


def _read_dicom(path: Path, options: ReadOptions) -> _Dicom:
    """The image after the LUTs, (laterality, view) from the header, the study UID (kept in
    memory only) and the burned-in flag, once the header passed the size checks and the
    clinical gate. pydicom's warnings are silenced: a malformed value's warning quotes it."""
    from e2e_mammo.preprocess.dicom import read_header, read_image_with_info

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            header = read_header(path, max_pixels=options.max_pixels)
            why_not = not_an_image(header, path.name)
            if why_not:
                raise NotAnImage(why_not)
            refused = refusal(header, options.gate)
            if refused:
                raise InputError(refused, "check")
            image, _ = read_image_with_info(path, native=True, max_pixels=options.max_pixels)
        except DatasetError as exc:
            raise InputError(exc.problem) from None
        study = str(header.get("StudyInstanceUID", "") or "")
        return _Dicom(image, header_views(header), study, burned_in_annotation(header))


def study_uid(path: Path, max_pixels: int = MAX_PIXELS) -> str:
    """A DICOM's StudyInstanceUID (in memory only, to group an exam), or ``""``."""
    from e2e_mammo.preprocess.dicom import read_header

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return str(read_header(path, max_pixels).get("StudyInstanceUID", "") or "")
        except Exception:
            return ""


def png_size(path: Path) -> tuple[int, int]:
    """(height, width) from a PNG's ``IHDR`` chunk, without decoding anything."""
    with path.open("rb") as handle:
        head = handle.read(24)
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise InputError("unreadable PNG (no PNG signature and IHDR header)")
    width, height = struct.unpack(">II", head[16:24])
    return height, width


def _read_png(path: Path, max_pixels: int) -> np.ndarray:
    height, width = png_size(path)
    if height * width > max_pixels:
        raise InputError(
            f"PNG header claims {height}x{width} pixels, over the limit of {max_pixels:,} "
            "pixels: refused before decoding (raise --max-pixels if this image is genuine)"
        )
    cv2.utils.logging.setLogLevel(0)  # a broken file goes to failures.csv, not to the log
    # decoded from bytes read by Python: cv2.imread crashes on a name that is not UTF-8
    image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
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
    item: InputFile, preprocess: Mapping[str, Any], options: ReadOptions | None = None
) -> LoadedImage:
    """Read, check and resize one input as the bundle's ``preprocess`` says: a DICOM through
    the converter's reader, resize and intensity mapping; a PNG the same way, except that a
    16-bit PNG already at the model's size is used as it is (as training reads the converter's
    PNGs). Raises :class:`InputError` (refused) or :class:`~.gating.NotAnImage` (ignored)."""
    options = options or ReadOptions()
    dicom = None
    if item.kind == "dicom":
        dicom = _read_dicom(item.path, options)
        image = dicom.image
    elif item.kind == "png":
        image = _read_png(item.path, options.max_pixels)
    else:
        raise InputError("not a DICOM or PNG file")
    pixels = _to_model_input(image, item, preprocess, options.min_scale)
    if pixels.min() == pixels.max():
        raise InputError("constant image after preprocessing: nothing to score", "preprocess")
    views = combine(dicom.views if dicom else None, views_from_name(item.name), "", "")
    shape = (int(image.shape[0]), int(image.shape[1]))
    if dicom is None:
        return LoadedImage(item, pixels, views, shape)
    return LoadedImage(item, pixels, views, shape, dicom.study, dicom.burned_in)
