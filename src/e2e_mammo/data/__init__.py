"""Data layer: indexing real downloads, synthetic datasets, DICOM->PNG, patient-level splits."""
