"""Laterality, view and exam of an input mammogram, from its DICOM header or its file name.

Order: the DICOM header (``ImageLaterality``, else ``Laterality``; ``ViewPosition``), then the
file name's tokens (split at ``_``, ``-``, ``.`` and spaces, any case): ``L``/``LEFT``/``R``/
``RIGHT`` and a view code (``CC``, ``MLO``, ``ML``, ``LM``, ``XCCL``, ...), also joined
(``LCC``, ``RMLO``: the NYU sample names).

The **exam** groups a breast's views for ``breast_predictions.csv``. From names: the text
before the laterality token of the path part that holds it, and the folders above it:
``1_L_CC.png`` -> ``1`` (the NYU layout), ``Mass-Test_P_00016_LEFT_CC/.../1-1.dcm`` ->
``P_00016`` (CBIS-DDSM's study folders; its Mass/Calc prefix dropped), INbreast's
``<file id>_<patient hash>_MG_L_CC_ANON.dcm`` -> the patient hash. Otherwise a DICOM's
study (``StudyInstanceUID``, named ``study-1``, ``study-2``... in the outputs: the UID itself
never leaves memory), else the input's folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LATERALITY_TOKENS = {"L": "L", "LEFT": "L", "R": "R", "RIGHT": "R"}
VIEW_CODES = ("CC", "MLO", "ML", "LM", "LMO", "XCCL", "XCCM", "FB", "SIO", "AT", "CV")
_SPLIT = re.compile(r"[_\-.\s]+")
_CBIS = re.compile(r"^(?:Mass|Calc)-(?:Training|Test)_(P_\d+)_(?:LEFT|RIGHT)_", re.IGNORECASE)
_INBREAST = re.compile(r"^\d+_([0-9a-f]{8,})_MG_[LR]_", re.IGNORECASE)


@dataclass(frozen=True)
class Views:
    """What is known of an image: laterality (``L``/``R``), view and the exam key (each may
    be empty)."""

    laterality: str = ""
    view: str = ""
    exam: str = ""


def _token_views(token: str) -> tuple[str, str]:
    """(laterality, view) of one name token: ``L``, ``CC``, ``LCC``, ``RIGHT``, ``RMLO``..."""
    if token in LATERALITY_TOKENS:
        return LATERALITY_TOKENS[token], ""
    if token in VIEW_CODES:
        return "", token
    if token[:1] in ("L", "R") and token[1:] in VIEW_CODES:
        return token[0], token[1:]
    return "", ""


def name_views(part: str) -> tuple[str, str, int]:
    """(laterality, view, character offset of the laterality token or -1) of one path part."""
    laterality, view, offset = "", "", -1
    position = 0
    for token in _SPLIT.split(part):
        start = part.find(token, position)
        position = start + len(token)
        side, code = _token_views(token.upper())
        if side and not laterality:
            laterality, offset = side, start
        if code and not view:
            view = code
    return laterality, view, offset


def _exam_from_part(part: str, offset: int) -> str:
    for pattern in (_CBIS, _INBREAST):
        match = pattern.match(part)
        if match:
            return match.group(1)
    return part[:offset].rstrip("_-. ")


def views_from_name(image_index: str) -> Views:
    """Laterality, view and exam from an image's index (its path below the input folder,
    ``/``-separated, without extension); the deepest path part naming a laterality wins."""
    parts = image_index.split("/")
    for depth in range(len(parts) - 1, -1, -1):
        laterality, view, offset = name_views(parts[depth])
        if laterality:
            if not view:  # the view may sit in a deeper part
                view = next((v for p in parts[depth + 1 :] if (v := name_views(p)[1])), "")
            stem = _exam_from_part(parts[depth], offset)
            exam = "/".join([*parts[:depth], stem] if stem else parts[:depth])
            return Views(laterality, view, exam)
    view = next((v for p in reversed(parts) if (v := name_views(p)[1])), "")
    return Views("", view, "")


def header_views(header) -> tuple[str, str]:
    """(laterality, view) from a DICOM header (pydicom Dataset), empty when absent."""
    laterality = ""
    for keyword in ("ImageLaterality", "Laterality"):
        value = str(header.get(keyword, "") or "").strip().upper()
        if value in ("L", "R"):
            laterality = value
            break
    view = str(header.get("ViewPosition", "") or "").strip().upper()
    return laterality, view if view in VIEW_CODES else ""


def combine(header: tuple[str, str] | None, named: Views, study_label: str, folder: str) -> Views:
    """The header's laterality and view first, the name's next; the exam from the name, else
    ``study_label`` (an anonymous study name), else ``folder``."""
    laterality, view = header or ("", "")
    return Views(
        laterality or named.laterality,
        view or named.view,
        named.exam or study_label or folder,
    )
