"""File paths listed in a stage's input table (``dicom_path``, ``png_path``, ``mask_png_path``).

One rule for every preprocessing stage, defined once here: a relative value is resolved against
the current directory first, then against the folder of the CSV that names it.
"""

from __future__ import annotations

from pathlib import Path


def resolve_listed_path(value: str, csv_path: str | Path) -> str:
    """A path from ``csv_path``: as given (absolute or cwd-relative) when it exists or when the
    CSV's folder holds no such file, else relative to the CSV's folder."""
    path = Path(value)
    folder = Path(csv_path).parent
    if path.is_absolute() or path.exists() or not (folder / path).exists():
        return str(path)
    return str(folder / path)


__all__ = ["resolve_listed_path"]
