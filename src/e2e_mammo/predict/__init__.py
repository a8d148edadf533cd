"""Scoring new mammograms with a trained model or ensemble bundle (``e2e-mammo predict``) and
exporting a bundle (``e2e-mammo export``): :mod:`.run`, :mod:`.inputs`, :mod:`.views`,
:mod:`.scorer`, :mod:`.outputs`, :mod:`.journal`, :mod:`.export`."""
