"""Evaluating a trained model on any labelled file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .backends import DEFAULT_BATCH_SIZE
from .data import load_labelled
from .metrics import compute_metrics
from .predict import Scorer


def evaluate(
    model_dir: str | Path,
    data_file: str | Path,
    text_column: str = "sentence",
    score_column: str = "score",
    worst: int = 10,
    backend: str = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
    scorer: Scorer | None = None,
) -> dict[str, Any]:
    """Score ``data_file`` and compare with its labels.

    Returns ``{"metrics": {...}, "worst_mistakes": [...], "model_dir", "data_file", "backend"}``; the
    worst mistakes are the rows with the largest |predicted - true| (ties: most confident first).
    """
    scorer = scorer or Scorer.load(model_dir, backend=backend, batch_size=batch_size)
    data = load_labelled(data_file, text_column, score_column, scale=scorer.scale)
    probs = scorer.predict_proba(data.texts)
    predicted = probs.argmax(axis=1)
    metrics = compute_metrics(data.label_ids, predicted.tolist(), scorer.scale)
    return {
        "model_dir": str(model_dir),
        "data_file": str(data_file),
        "backend": scorer.backend,
        "metrics": metrics,
        "worst_mistakes": _worst_mistakes(data.texts, data.label_ids, probs, scorer, worst),
    }


def _worst_mistakes(texts, true_ids, probs, scorer: Scorer, count: int) -> list[dict[str, Any]]:
    predicted = probs.argmax(axis=1)
    true = np.asarray(true_ids)
    values = np.asarray(scorer.scale.values) if scorer.scale.is_numeric else None
    distance = np.abs(values[predicted] - values[true]) if values is not None else (predicted != true).astype(float)
    confidence = probs.max(axis=1)
    wrong = [i for i in range(len(texts)) if predicted[i] != true[i]]
    wrong.sort(key=lambda i: (-distance[i], -confidence[i]))
    scale = scorer.scale
    return [
        {
            "row": i + 2,  # as a spreadsheet numbers it, header = row 1
            "sentence": texts[i],
            "true": scale.parse(scale.labels[true[i]]),
            "predicted": scale.parse(scale.labels[predicted[i]]),
            "error": float(distance[i]),
            "confidence": round(float(confidence[i]), 4),
        }
        for i in wrong[:count]
    ]
