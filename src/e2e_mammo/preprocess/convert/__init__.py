"""Conversion: the indexed DICOMs to 16-bit PNGs and 8-bit ROI masks at the network's size.

:mod:`.pixels` resizes an image and its masks (pure arrays), :mod:`.worker` converts one image
in a worker process, :mod:`.journal` records finished images so an interrupted run resumes, and
:mod:`.stage` reads ``images.csv``/``rois.csv`` and writes the manifests and exclusions.
"""
