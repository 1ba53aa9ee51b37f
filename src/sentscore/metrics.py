"""Metrics that fit ordinal scores, computed with scikit-learn and scipy.

One function, :func:`compute_metrics`, returns a flat dict; ``accuracy`` is the primary metric.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
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
    "ece": "Expected calibration error",
}


@contextlib.contextmanager
def environment_kept() -> Iterator[None]:
    """``os.environ`` as it was before the block: scikit-learn's first import sets two OpenMP variables
    (``KMP_DUPLICATE_LIB_OK``, ``KMP_INIT_AT_FORK``) for its own process, which a library call must not leave in
    its caller's."""
    before = dict(os.environ)
    try:
        yield
    finally:
        for key in set(os.environ) - set(before):
            del os.environ[key]
        os.environ.update(before)


def compute_metrics(y_true: Sequence[int], y_pred: Sequence[int], scale: ScoreScale) -> dict[str, Any]:
    """Accuracy and macro-F1 for any labels; with numeric scores also MAE and RMSE in score units,
    quadratic weighted kappa, Spearman correlation and within-one accuracy (|pred - true| <= one level).
    ``confusion_matrix`` rows are true labels, columns predictions, in ``scale`` order."""
    from scipy.stats import spearmanr

    with environment_kept():
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


#: The metrics of the distance between scores, for which the baseline predicts the median level.
DISTANCE_METRICS = ("mae", "rmse", "within_one", "qwk", "spearman")


def majority_baseline(y_train: Sequence[int], y_eval: Sequence[int], scale: ScoreScale) -> dict[str, Any]:
    """What a model that ignores the text scores on ``y_eval``: the most common training level for accuracy and
    macro-F1 (a tie goes to the level nearest the median, not to the lowest), and, with numeric scores, the
    median training level for the distance metrics (it minimises the mean absolute error). ``predicts`` says
    which level each part predicted."""
    train = np.sort(np.asarray(y_train))
    median = int(train[(len(train) - 1) // 2])
    counts = np.bincount(train, minlength=len(scale))
    majority = int(min(np.flatnonzero(counts == counts.max()), key=lambda level: abs(level - median)))
    result = compute_metrics(y_eval, [majority] * len(y_eval), scale)
    result["predicts"] = {"accuracy": scale.labels[majority]}
    if scale.values is not None:
        by_median = compute_metrics(y_eval, [median] * len(y_eval), scale)
        result.update({key: by_median[key] for key in DISTANCE_METRICS})
        result["predicts"]["distance"] = scale.labels[median]
    return result


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


#: Metrics given a bootstrap interval, and how many resamples draw it.
INTERVAL_METRICS = ("accuracy", "macro_f1", "qwk", "mae")
BOOTSTRAP_RESAMPLES = 1000


def bootstrap_intervals(
    y_true: Sequence[int], y_pred: Sequence[int], scale: ScoreScale, confidence: float = 0.95, seed: int = 0
) -> dict[str, list[float]]:
    """Percentile bootstrap intervals (scipy) of accuracy, macro-F1, QWK and MAE: the sentences are resampled
    with replacement, so the interval shows how much the figure owes to which sentences were held out."""
    import warnings

    from scipy.stats import DegenerateDataWarning, bootstrap

    true, pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    names = [m for m in INTERVAL_METRICS if m in ("accuracy", "macro_f1") or scale.is_numeric]
    if len(true) < 2:
        return {}
    present = np.isin(np.arange(len(scale)), true)  # macro-F1 averages over the levels the data has

    def statistic(t: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
        matrices = confusion_matrices(t.reshape(-1, t.shape[-1]), p.reshape(-1, p.shape[-1]), len(scale))
        found = metrics_from_confusion(matrices, scale, present)
        return np.stack([found[m] for m in names]).reshape((len(names), *t.shape[:-1]))

    with warnings.catch_warnings():  # a degenerate sample (every sentence alike) just gets a zero-width interval
        warnings.simplefilter("ignore", DegenerateDataWarning)
        result = bootstrap(
            (true, pred),
            statistic,
            paired=True,
            vectorized=True,
            n_resamples=BOOTSTRAP_RESAMPLES,
            batch=100,
            confidence_level=confidence,
            method="percentile",
            random_state=np.random.default_rng(seed),
        )
    low, high = result.confidence_interval
    return {m: [round(float(lo), 4), round(float(hi), 4)] for m, lo, hi in zip(names, low, high, strict=True)}


def confusion_matrices(true: np.ndarray, pred: np.ndarray, levels: int) -> np.ndarray:
    """One confusion matrix per row of ``true``/``pred`` (shape (batch, n)), shape (batch, levels, levels)."""
    batch = len(true)
    codes = (np.arange(batch)[:, None] * levels + true) * levels + pred
    return np.bincount(codes.ravel(), minlength=batch * levels * levels).reshape(batch, levels, levels)


def metrics_from_confusion(matrices: np.ndarray, scale: ScoreScale, present: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, macro-F1 (over the ``present`` levels), QWK and MAE of each confusion matrix, as
    :func:`compute_metrics` computes them."""
    counts = matrices.astype(float)
    n = counts.sum(axis=(1, 2))
    hits = np.diagonal(counts, axis1=1, axis2=2)
    true_totals, pred_totals = counts.sum(axis=2), counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.nan_to_num(2 * hits / (true_totals + pred_totals))
    result = {"accuracy": hits.sum(axis=1) / n, "macro_f1": f1[:, present].mean(axis=1)}
    if scale.is_numeric:
        values = np.asarray(scale.values)
        distance = np.abs(values[:, None] - values[None, :])
        result["mae"] = (counts * distance).sum(axis=(1, 2)) / n
        ids = np.arange(len(scale))
        weights = (ids[:, None] - ids[None, :]) ** 2 / (len(scale) - 1) ** 2
        expected = true_totals[:, :, None] * pred_totals[:, None, :] / n[:, None, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            result["qwk"] = 1 - (weights * counts).sum(axis=(1, 2)) / (weights * expected).sum(axis=(1, 2))
    return result


def expected_calibration_error(probs: np.ndarray, y_true: Sequence[int], bins: int = 15) -> float:
    """Top-label expected calibration error: sentences binned by the probability of their predicted level,
    the gap between that probability and the share predicted right, weighted by the bin's size."""
    probs, true = np.asarray(probs), np.asarray(y_true)
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    correct = predicted == true
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    gap = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            gap += members.mean() * abs(confidence[members].mean() - correct[members].mean())
    return float(gap)


def reliability_bins(probs: np.ndarray, y_true: Sequence[int], bins: int = 10) -> list[dict[str, float]]:
    """The reliability diagram's points: per bin of top-label probability, its mean, the share of sentences
    predicted right, and how many sentences fell in it (empty bins left out)."""
    probs, true = np.asarray(probs), np.asarray(y_true)
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == true
    which = np.clip(np.digitize(confidence, np.linspace(0.0, 1.0, bins + 1)[1:-1], right=True), 0, bins - 1)
    return [
        {
            "confidence": round(float(confidence[which == b].mean()), 4),
            "accuracy": round(float(correct[which == b].mean()), 4),
            "count": int((which == b).sum()),
        }
        for b in range(bins)
        if (which == b).any()
    ]


#: How a distribution over the levels becomes one level.
DECODINGS = ("argmax", "expected", "median")


def decode(probs: np.ndarray, scale: ScoreScale, how: str = "argmax") -> np.ndarray:
    """Level ids from probabilities: the most likely level (argmax), the level nearest the expected score
    Σ k·p(k) (expected; lowers MAE when neighbours share the mass), or the distribution's median (the first
    level where the cumulative probability reaches one half)."""
    probs = np.asarray(probs)
    if how == "argmax" or not scale.is_numeric:
        return probs.argmax(axis=1)
    if how == "expected":
        values = np.asarray(scale.values)
        expected = probs @ values
        return np.abs(expected[:, None] - values[None, :]).argmin(axis=1)
    if how == "median":
        return (np.cumsum(probs, axis=1) >= 0.5).argmax(axis=1)
    raise ValueError(f"unknown decoding {how!r}; use one of {', '.join(DECODINGS)}")
