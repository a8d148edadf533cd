"""CBIS-DDSM views listed twice, under a ``Mass-`` and a ``Calc-`` SubjectID: which listing's
DICOM is kept and which official set the view takes (pure: no DICOM tree needed)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from e2e_mammo.datasets.cbis_ddsm.descriptions import CSV_FILES, view_id
from e2e_mammo.preprocess.splits import check_official_sets, official_side

log = logging.getLogger(__name__)


#: columns of :func:`plan_listings`
LISTING_COLUMNS = ["image_id", "view_id", "official", "split", "rank", "kept_id"]


def _prefix_rank(image_id: str) -> int:
    """Position of the SubjectID prefix in :data:`CSV_FILES` (unknown prefixes last)."""
    prefixes = [prefix for _, _, prefix in CSV_FILES.values()]
    prefix = str(image_id).split("_", 1)[0]
    return prefixes.index(prefix) if prefix in prefixes else len(prefixes)


def plan_listings(rows: pd.DataFrame, official_overlap: str = "test") -> pd.DataFrame:
    """One row per full-image listing (SubjectID) of checked ROI rows: its view and the DICOM kept.

    Columns (:data:`LISTING_COLUMNS`): ``image_id`` (the listing's SubjectID), ``view_id``
    (:func:`view_id`), ``official`` (the listing's own set, from its CSV), ``split`` (the view's
    set: :func:`~e2e_mammo.preprocess.splits.official_side` of its listings), ``rank`` (0 = the
    preferred listing of the view, see the module docstring) and ``kept_id`` (the rank-0
    listing). Sorted by ``view_id`` and ``rank``.
    """
    listings = rows.drop_duplicates("image_id")[["image_id", "split"]].rename(
        columns={"split": "official"}
    )
    check_official_sets(official_overlap, listings["official"])
    listings["view_id"] = listings["image_id"].map(view_id)
    listings["split"] = listings["official"]
    dual = listings["view_id"].duplicated(keep=False)
    listings.loc[dual, "split"] = (
        listings[dual]
        .groupby("view_id")["official"]
        .transform(lambda sets: official_side(sets, official_overlap))
    )
    listings["_other_set"] = listings["official"] != listings["split"]
    listings["_prefix"] = listings["image_id"].map(_prefix_rank)
    listings = listings.sort_values(["view_id", "_other_set", "_prefix", "image_id"])
    listings["rank"] = listings.groupby("view_id").cumcount()
    listings["kept_id"] = listings.groupby("view_id")["image_id"].transform("first")
    return listings[LISTING_COLUMNS].reset_index(drop=True)


def merge_listings(rows: pd.DataFrame, listings: pd.DataFrame) -> pd.DataFrame:
    """Re-key checked ROI rows to the listing kept for their view.

    ``image_id`` becomes the row's ``kept_id`` and ``split`` the view's set; rows whose listing
    has no ``kept_id`` (empty) are dropped. Within an image the kept listing's rows come first,
    then the other listings' by ``rank``; an abnormality id already taken by an earlier listing
    becomes the next free id after the image's highest.
    """
    plan = listings.set_index("image_id")
    work = rows[rows["image_id"].map(plan["kept_id"]).fillna("") != ""].copy()
    if work.empty:
        return work.reset_index(drop=True)
    work["_listing"] = work["image_id"]
    work["image_id"] = work["_listing"].map(plan["kept_id"])
    work["split"] = work["_listing"].map(plan["split"])
    rank = work["_listing"].map(plan["rank"]).astype(int)
    work["_order"] = np.where(work["_listing"] == work["image_id"], 0, 1 + rank)
    work["_aid"] = pd.to_numeric(work["abnormality_id"])
    work = work.sort_values(["image_id", "_order", "_aid", "source_row"])
    merged = work.groupby("image_id")["_listing"].transform("nunique") > 1
    for _, group in work[merged].groupby("image_id"):
        work.loc[group.index, "abnormality_id"] = _unique_ids(group)
    return work.drop(columns=["_listing", "_order", "_aid"]).reset_index(drop=True)


def _unique_ids(group: pd.DataFrame) -> list[str]:
    """The abnormality ids of one image's rows (listing by listing, in row order), an id taken by
    an earlier listing moved to the next free id after the highest."""
    used: set[int] = set()
    out: list[str] = []
    for _, ids in group.groupby("_listing", sort=False)["_aid"]:
        taken = used | {int(a) for a in ids}
        for aid in (int(a) for a in ids):
            if aid in used:
                aid = max(taken) + 1
                taken.add(aid)
            out.append(str(aid))
        used = taken
    return out
