"""Laterality, view and exam from file names and DICOM headers."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from e2e_mammo.predict.views import Views, combine, header_views, views_from_name


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        ("1_L_CC", Views("L", "CC", "1")),  # the NYU sample layout
        ("exam7/R-MLO", Views("R", "MLO", "exam7")),
        ("scans/0001_RIGHT_CC", Views("R", "CC", "scans/0001")),
        ("a/LCC", Views("L", "CC", "a")),  # laterality and view joined
        (
            "Mass-Test_P_00016_LEFT_CC/07-21-2016-DDSM-NA-90053/1.000000-full-24758/1-1",
            Views("L", "CC", "P_00016"),  # CBIS-DDSM: the patient, Mass/Calc dropped
        ),
        ("22678622_61b13c59bcba149e_MG_R_ML_ANON", Views("R", "ML", "61b13c59bcba149e")),
        ("scan_0042", Views("", "", "")),
        ("folder/img_MLO", Views("", "MLO", "")),
    ],
)
def test_views_from_name(index, expected):
    assert views_from_name(index) == expected


def test_words_that_merely_contain_l_or_r_are_not_laterality():
    assert views_from_name("LATERAL_REVIEW_scan").laterality == ""


def test_header_views_prefer_image_laterality():
    ds = Dataset()
    ds.ImageLaterality, ds.Laterality, ds.ViewPosition = "R", "L", "MLO"
    assert header_views(ds) == ("R", "MLO")


def test_header_views_ignore_unknown_values():
    ds = Dataset()
    ds.Laterality, ds.ViewPosition = "B", "XYZ"
    assert header_views(ds) == ("", "")


def test_header_wins_over_name_and_exam_falls_back_to_study():
    named = Views("L", "CC", "")
    assert combine(("R", "MLO"), named, "study-1", "folder") == Views("R", "MLO", "study-1")
    assert combine(None, Views(), "", "folder") == Views("", "", "folder")
