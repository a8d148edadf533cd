"""Clinical gating from the header: what is ignored, refused, flagged."""

from __future__ import annotations

from pydicom.dataset import Dataset, FileMetaDataset

from e2e_mammo.predict.gating import (
    DICOMDIR_CLASS,
    FOR_PROCESSING_CLASS,
    Gate,
    burned_in_annotation,
    not_an_image,
    refusal,
)


def _header(**tags) -> Dataset:
    ds = Dataset()
    ds.Modality = "MG"
    for key, value in tags.items():
        setattr(ds, key, value)
    return ds


def test_a_dicomdir_is_no_image_by_its_class():
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = DICOMDIR_CLASS
    assert "DICOMDIR" in not_an_image(ds, "anything")


def test_a_dicomdir_is_no_image_by_its_name():
    assert "DICOMDIR" in not_an_image(Dataset(), "DICOMDIR")


def test_structured_reports_presentation_states_and_key_objects_are_no_images():
    for modality in ("SR", "PR", "KO"):
        assert f"Modality {modality}" in not_an_image(_header(Modality=modality), "x.dcm")


def test_a_mammogram_is_an_image():
    assert not_an_image(_header(), "x.dcm") == ""


def test_for_processing_is_refused_unless_allowed():
    header = _header(PresentationIntentType="FOR PROCESSING")
    assert "--allow-for-processing" in refusal(header, Gate())
    assert refusal(header, Gate(allow_for_processing=True)) == ""


def test_the_for_processing_class_alone_is_refused():
    assert "FOR PROCESSING" in refusal(_header(SOPClassUID=FOR_PROCESSING_CLASS), Gate())


def test_another_modality_is_refused_unless_allowed():
    header = _header(Modality="CT")
    assert "Modality is 'CT'" in refusal(header, Gate())
    assert refusal(header, Gate(allow_other_modalities=True)) == ""


def test_burned_in_annotation_yes_is_flagged():
    assert burned_in_annotation(_header(BurnedInAnnotation="YES"))
    assert not burned_in_annotation(_header(BurnedInAnnotation="NO"))
