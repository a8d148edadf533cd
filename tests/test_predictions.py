import numpy as np
import pandas as pd

from e2e_mammo.evaluation.predictions import prediction_frame


def test_rows_carry_ids_label_and_every_class_probability():
    evaluation = {
        "index": np.array([1, 0]),
        "labels": np.array([1, 0]),
        "probs": np.array([[0.2, 0.8], [0.9, 0.1]]),
        "tta_probs": np.array([[0.3, 0.7], [0.8, 0.2]]),
    }
    ids = pd.DataFrame({"image_id": ["a", "b"], "patient_id": ["p1", "p2"]})
    frame = prediction_frame("test", evaluation, ["benign", "malignant"], ids)
    assert list(frame["image_id"]) == ["b", "a"] and list(frame["row"]) == [1, 0]
    assert list(frame["prob_malignant"]) == [0.8, 0.1]
    assert list(frame["tta_prob_malignant"]) == [0.7, 0.2]
    assert (frame["split"] == "test").all()


def test_id_columns_never_duplicate_the_tables_own():
    evaluation = {"index": np.array([0]), "labels": np.array([1]), "probs": np.array([[0.4, 0.6]])}
    ids = pd.DataFrame({"split": ["test"], "image_id": ["a"], "label": [1]})
    frame = prediction_frame("test", evaluation, ["benign", "malignant"], ids)
    assert list(frame.columns).count("split") == 1 and list(frame.columns).count("label") == 1
