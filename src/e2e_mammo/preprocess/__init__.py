"""Dataset-agnostic stages: DICOM reading and conversion, splits, the pixel mean, patch sets.

Each stage keeps its logic beside the module that reads and writes its files
(``splits``/``split_stage``, ...).
"""
