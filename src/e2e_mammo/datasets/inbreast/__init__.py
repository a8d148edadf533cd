"""INbreast (the release folder): :mod:`.index` indexes it into ``images.csv``/``rois.csv``;
:mod:`.synthetic` writes the built-in synthetic release in the same layout."""
