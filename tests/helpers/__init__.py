"""Builders of tiny inputs shared by several test modules (synthetic images, DICOM trees, patch
sets, prediction inputs)."""
