"""Which DICOM objects ``e2e-mammo predict`` scores: clinical gating from the header alone.

A CD or PACS export holds more than mammograms. Before any pixel is read:

* the CD's ``DICOMDIR`` (Media Storage Directory) and objects without an image (structured
  reports ``SR``, presentation states ``PR``, key object selections ``KO``, documents...) are
  **ignored**: listed in ``ignored.csv`` and ``summary.json``, not failures;
* a ``FOR PROCESSING`` image (raw detector data, before the vendor's image processing; the
  networks were trained on ``FOR PRESENTATION`` images) is refused unless
  ``--allow-for-processing``;
* a Modality other than ``MG`` is refused unless ``--allow-other-modalities``;
* ``BurnedInAnnotation`` ``YES`` is flagged in the image's row (its overlay may show burned-in
  text such as a name).
"""

from __future__ import annotations

from dataclasses import dataclass

#: DICOM Modality of a mammogram.
MAMMOGRAPHY = "MG"
#: Media Storage Directory Storage: a ``DICOMDIR``.
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
#: Modalities of DICOM objects that hold no image.
NON_IMAGE_MODALITIES = {
    "SR": "structured report",
    "PR": "presentation state",
    "KO": "key object selection",
    "DOC": "document",
    "REG": "registration",
    "SEG": "segmentation",
    "RWV": "real world value map",
}
#: Digital Mammography X-Ray Image Storage - For Processing.
FOR_PROCESSING_CLASS = "1.2.840.10008.5.1.4.1.1.1.2.1"


class NotAnImage(Exception):
    """A DICOM object that is not an image at all: ignored, with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Gate:
    """What predict lets through: FOR PROCESSING images, modalities other than MG."""

    allow_for_processing: bool = False
    allow_other_modalities: bool = False


def _text(header, keyword: str) -> str:
    return str(header.get(keyword, "") or "").strip().upper()


def _sop_class(header) -> str:
    meta = getattr(header, "file_meta", None)
    media = str(meta.get("MediaStorageSOPClassUID", "") or "") if meta is not None else ""
    return str(header.get("SOPClassUID", "") or media).strip()


def not_an_image(header, name: str) -> str:
    """Why the object is no image (``""`` when it may be one): a DICOMDIR, or SR/PR/KO..."""
    modality = _text(header, "Modality")
    if _sop_class(header) == DICOMDIR_CLASS or name.upper() == "DICOMDIR":
        return "DICOMDIR (a CD's directory of its files, not an image)"
    if "DirectoryRecordSequence" in header:
        return "DICOMDIR (a CD's directory of its files, not an image)"
    if modality in NON_IMAGE_MODALITIES:
        return f"not an image: a {NON_IMAGE_MODALITIES[modality]} (Modality {modality})"
    return ""


def refusal(header, gate: Gate) -> str:
    """Why an image is refused under ``gate`` (``""`` when it is scored)."""
    intent = _text(header, "PresentationIntentType")
    if not gate.allow_for_processing and (
        intent == "FOR PROCESSING" or _sop_class(header) == FOR_PROCESSING_CLASS
    ):
        return (
            "FOR PROCESSING image (raw detector data; the models were trained on FOR "
            "PRESENTATION images): pass --allow-for-processing to score it anyway"
        )
    modality = _text(header, "Modality")
    if not gate.allow_other_modalities and modality and modality != MAMMOGRAPHY:
        return (
            f"not a mammogram: DICOM Modality is {modality!r}, expected 'MG' (pass "
            "--allow-other-modalities to score it anyway)"
        )
    return ""


def burned_in_annotation(header) -> bool:
    """Whether the header says the pixels carry burned-in text (``BurnedInAnnotation`` YES)."""
    return _text(header, "BurnedInAnnotation") == "YES"
