"""Evaluating a trained model on any labelled file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .data import LabelledData, ScoreScale, load_labelled, seen
from .data.readers import row_numbers
from .metrics import DECODINGS, bootstrap_intervals, compute_metrics, decode, expected_calibration_error
from .scoring.backends import DEFAULT_BATCH_SIZE
from .scoring.scorer import Scorer

#: The metrics shown for each decoding, side by side.
DECODING_METRICS = ("accuracy", "macro_f1", "qwk", "mae")


def evaluate(
    model_dir: str | Path,
    data_file: str | Path,
    text_column: str = "sentence",
    score_column: str = "score",
    worst: int = 10,
    backend: str = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
    scorer: Scorer | None = None,
    set_coverage: float = 0.9,
    long_texts: str = "windows",
    device: str = "cpu",
    onnx_file: str | None = None,
) -> dict[str, Any]:
    """Score ``data_file`` and compare with its labels.

    Returns ``{"metrics": {...}, "decodings": {...}, "score_sets": {...}, "long_texts": {...},
    "worst_mistakes": [...], "held_out": {...}, "warnings": [...], "model_dir", "data_file", "backend",
    "scored_with"}``: how many of the file's sentences the model trained or validated on (``held_out``; nothing
    is refused: the report says so); the file it scored with; the metrics of the most likely score with
    95% bootstrap intervals and the calibration error; the metrics of each way of turning the probabilities
    into one score; the coverage and mean size of the conformal score sets at ``set_coverage`` (None for a
    model without conformal scores); how many texts were longer than max_length and how they were scored
    (``long_texts``); the rows with the largest |predicted - true| (ties: most confident first). ``device`` and
    ``onnx_file`` as :meth:`Scorer.load` takes them.
    """
    scorer = scorer or Scorer.load(
        model_dir, backend=backend, batch_size=batch_size, long_texts=long_texts, device=device, onnx_file=onnx_file
    )
    data = load_labelled(data_file, text_column, score_column, scale=scorer.scale)
    probs = scorer.predict_proba(data.texts)
    predicted = probs.argmax(axis=1)
    metrics = compute_metrics(data.label_ids, predicted.tolist(), scorer.scale)
    metrics["ece"] = expected_calibration_error(probs, data.label_ids)
    metrics["intervals"] = bootstrap_intervals(data.label_ids, predicted, scorer.scale)
    return {
        "model_dir": str(model_dir),
        "data_file": str(data_file),
        "backend": scorer.backend,
        "scored_with": scorer.scored_with,
        "held_out": held_out(data.texts, scorer),
        "warnings": _warnings(len(data), data.label_ids, scorer.scale),
        "metrics": metrics,
        "decodings": decodings(probs, data.label_ids, scorer.scale),
        "score_sets": score_set_report(scorer, probs, data.label_ids, set_coverage),
        "long_texts": {
            "count": scorer.long_text_count(data.texts),
            "max_length": scorer.max_length,
            "scored": scorer.long_texts,
        },
        "worst_mistakes": _worst_mistakes(data, probs, scorer, worst),
    }


#: Fewer sentences than this, and evaluate says its figures and their intervals can tell little.
FEW_SENTENCES = 30


def held_out(texts: list[str], scorer: Scorer) -> dict[str, Any]:
    """How many of ``texts`` the model trained on, validated on, and neither (from the fingerprints its folder
    keeps); for a folder without them, only whether the file has the name of the one it trained on."""
    found = seen.overlap(texts, scorer.info.seen)
    if found is not None:
        return {**found, "known": True}
    return {"known": False, "sentences": len(texts), "train_file": scorer.info.train_file}


def _warnings(sentences: int, label_ids: list[int], scale: ScoreScale) -> list[str]:
    said = []
    if sentences < FEW_SENTENCES:
        said.append(
            f"Only {sentences} sentence{'s' if sentences != 1 else ''}: figures on so few say little, and their "
            f"intervals are rough (evaluate on {FEW_SENTENCES} or more, ideally hundreds)."
        )
    missing = [label for i, label in enumerate(scale.labels) if i not in set(label_ids)]
    if missing:
        said.append(f"No sentence has the score(s) {', '.join(missing)}: the figures say nothing of them.")
    return said


def decodings(probs: np.ndarray, label_ids: list[int], scale: ScoreScale) -> dict[str, dict[str, Any]]:
    """The headline metrics of each decoding (argmax, rounded expected score, median) on the same sentences."""
    if not scale.is_numeric:
        return {}
    result = {}
    for how in DECODINGS:
        found = compute_metrics(label_ids, decode(probs, scale, how).tolist(), scale)
        result[how] = {key: found[key] for key in DECODING_METRICS}
    return result


def score_set_report(scorer: Scorer, probs: np.ndarray, label_ids: list[int], coverage: float) -> dict | None:
    """How often the conformal sets at ``coverage`` hold the true score here, and how many levels they hold."""
    sets = scorer.score_sets(probs, coverage)
    if sets is None:
        return None
    covered = sets[np.arange(len(label_ids)), np.asarray(label_ids, dtype=int)]
    return {"coverage_asked": coverage, "coverage": float(covered.mean()), "mean_size": float(sets.sum(1).mean())}


def _worst_mistakes(data: LabelledData, probs: np.ndarray, scorer: Scorer, count: int) -> list[dict[str, Any]]:
    texts, true_ids = data.texts, data.label_ids
    predicted = probs.argmax(axis=1)
    true = np.asarray(true_ids)
    values = np.asarray(scorer.scale.values) if scorer.scale.is_numeric else None
    distance = np.abs(values[predicted] - values[true]) if values is not None else (predicted != true).astype(float)
    confidence = probs.max(axis=1)
    wrong = [i for i in range(len(texts)) if predicted[i] != true[i]]
    wrong.sort(key=lambda i: (-distance[i], -confidence[i]))
    shown = wrong[:count]
    rows = dict(zip(shown, row_numbers(data.source, shown)[1], strict=True))  # as the user finds them in the file
    scale = scorer.scale
    return [
        {
            "row": rows[i],
            "sentence": texts[i],
            "true": scale.parse(scale.labels[true[i]]),
            "predicted": scale.parse(scale.labels[predicted[i]]),
            "error": float(distance[i]),
            "confidence": round(float(confidence[i]), 4),
        }
        for i in shown
    ]
