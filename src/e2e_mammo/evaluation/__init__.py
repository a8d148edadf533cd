"""Evaluation: metrics (scikit-learn definitions), flip test-time augmentation, predictions."""
