import numpy as np
import pandas as pd

from e2e_mammo.evaluation.predictions import prediction_frame, read_predictions, write_predictions


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


def test_written_spreadsheet_safe_and_read_back_intact(tmp_path):
    frame = pd.DataFrame(
        {
            "split": ["test", "test"],
            "image_id": ['=HYPERLINK("x")', "00012"],
            "patient_id": ["-p1", "+p2"],
            "label": [1, 0],
            "prob_malignant": [-0.0, 0.25],
        }
    )
    write_predictions(frame, tmp_path / "predictions.csv")
    text = (tmp_path / "predictions.csv").read_text()
    assert "'=HYPERLINK" in text and "'-p1" in text and "'+p2" in text
    pd.testing.assert_frame_equal(read_predictions(tmp_path / "predictions.csv"), frame)
