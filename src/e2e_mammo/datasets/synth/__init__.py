"""Built-in synthetic datasets in the exact on-disk layouts of CBIS-DDSM and INbreast.

* :func:`synth_cbis_ddsm` writes an NBIA-retriever download root (``CBIS-DDSM/…``,
  ``metadata.csv`` and the four case-description CSVs).
* :func:`synth_inbreast` writes an INbreast release folder (``AllDICOMs/``, ``AllXML/``,
  ``INbreast.csv``).
* :mod:`e2e_mammo.datasets.synth.phantom` draws the pictures (breast, tissue, masses,
  calcifications, film vs FFDM intensity profiles).

Both writers are deterministic for a seed and build their tree in ``out.parent/.<name>.partial``
before renaming it to ``out``, so an interrupted run never leaves a complete-looking ``out``.
They replace only an ``out`` they built themselves (marked by a ``.e2e-mammo-synthetic`` file)
or an empty one; any other existing folder is refused untouched (see
:mod:`~e2e_mammo.datasets.synth.staging`).
"""

from __future__ import annotations

from e2e_mammo.datasets.synth.cbis_ddsm import synth_cbis_ddsm
from e2e_mammo.datasets.synth.inbreast import synth_inbreast

__all__ = ["synth_cbis_ddsm", "synth_inbreast"]
