"""Metrics that fit ordinal scores, computed with scikit-learn and scipy.

One function, :func:`compute_metrics`, returns a flat dict; ``accuracy`` is the primary metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .data import ScoreScale

#: Display names, in the order tables show them.
METRIC_NAMES = {
    "accuracy": "Accuracy",
    "macro_f1": "Macro-F1",
    "mae": "MAE (score units)",
    "rmse": "RMSE (score units)",
    "qwk": "Quadratic weighted kappa",
    "spearman": "Spearman correlation",
    "within_one": "Within-one accuracy",
}


def compute_metrics(y_true: Sequence[int], y_pred: Sequence[int], scale: ScoreScale) -> dict[str, Any]:
    """Accuracy and macro-F1 for any labels; with numeric scores also MAE and RMSE in score units,
    quadratic weighted kappa, Spearman correlation and within-one accuracy (|pred - true| <= one level).
    ``confusion_matrix`` rows are true labels, columns predictions, in ``scale`` order."""
    from scipy.stats import spearmanr
    from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, f1_score

    true, pred = np.asarray(y_true), np.asarray(y_pred)
    ids = list(range(len(scale)))
    result: dict[str, Any] = {
        "n": int(len(true)),
        "accuracy": float(accuracy_score(true, pred)),
        "macro_f1": float(f1_score(true, pred, labels=sorted(set(true)), average="macro", zero_division=0)),
    }
    values = scale.values
    if values is not None:
        true_v, pred_v = np.asarray(values)[true], np.asarray(values)[pred]
        errors = pred_v - true_v
        result["mae"] = float(np.mean(np.abs(errors)))
        result["rmse"] = float(math.sqrt(np.mean(errors**2)))
        result["qwk"] = _finite(cohen_kappa_score(true, pred, labels=ids, weights="quadratic"))
        result["spearman"] = _finite(spearmanr(true_v, pred_v).statistic) if len(set(pred)) > 1 else None
        result["within_one"] = float(np.mean(np.abs(true - pred) <= 1))
    result["confusion_matrix"] = confusion_matrix(true, pred, labels=ids).tolist()
    return result


def majority_baseline(y_train: Sequence[int], y_eval: Sequence[int], scale: ScoreScale) -> dict[str, Any]:
    """What always predicting the most common training label scores on ``y_eval``."""
    majority = int(np.bincount(np.asarray(y_train), minlength=len(scale)).argmax())
    return compute_metrics(y_eval, [majority] * len(y_eval), scale)


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
