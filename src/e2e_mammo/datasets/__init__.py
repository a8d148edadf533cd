"""What is true of one dataset, one subpackage each, its synthetic generator beside its reader:

* :mod:`.cbis_ddsm`: the case-description CSVs (``descriptions``), views listed twice
  (``listings``), the DICOM tree and full images (``tree``), ROI masks and crops (``rois``),
  the indexer (``index``) and the built-in synthetic download (``synthetic``);
* :mod:`.inbreast`: the indexer (``index``) and the synthetic release (``synthetic``);
* :mod:`.indexing`: what both indexers share (the exclusion log, a careful CSV reader, a
  header-only DICOM read, writing ``images.csv``/``rois.csv``/``exclusions.csv``);
* :mod:`.synth`: what both synthetic generators share (the phantom painter, the DICOM writer,
  staging an output folder).
"""
