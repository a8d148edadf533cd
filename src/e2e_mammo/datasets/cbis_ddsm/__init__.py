"""CBIS-DDSM (TCIA / NBIA Data Retriever downloads): :mod:`.index` indexes a download into
``images.csv``/``rois.csv`` from its :mod:`.descriptions` CSVs, its :mod:`.tree` of DICOMs and
its :mod:`.rois` files (views listed twice: :mod:`.listings`); :mod:`.synthetic` writes the
built-in synthetic download in the same layout."""
