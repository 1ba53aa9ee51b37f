"""From held-out probabilities to the rows whose score is probably wrong, with cleanlab: each row's label quality
(the probability the model gives its own score, cleanlab's self-confidence), the rows cleanlab's confident
learning flags (pruned by the estimated noise rate of each level), and the estimated share of wrong labels of
each level."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import ScoreScale

#: How the rows are ranked and flagged (recorded in the summary).
METHOD = {"label_quality": "cleanlab self_confidence", "flagged": "cleanlab find_label_issues, prune_by_noise_rate"}


@dataclass
class Ranking:
    """Each row's label quality in [0, 1] (low: suspect), whether it is flagged, the suggested level (the held-out
    model's most likely one), and the estimated share of wrong labels per level."""

    quality: np.ndarray
    flagged: np.ndarray
    suggested: np.ndarray
    noise_per_level: dict[str, float]


def rank(probs: np.ndarray, label_ids: list[int], scale: ScoreScale) -> Ranking:
    """Rank the rows by how likely their given level is wrong, from probabilities of models that never saw them."""
    from cleanlab.dataset import rank_classes_by_label_quality
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(label_ids, dtype=int)
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum(axis=1, keepdims=True)  # float32 sums that cleanlab's checks would refuse
    quality = get_label_quality_scores(labels, probs, method="self_confidence")
    # n_jobs=1: cleanlab would otherwise start a process per core, and a library call starts none
    flagged = find_label_issues(labels, probs, filter_by="prune_by_noise_rate", n_jobs=1)
    classes = rank_classes_by_label_quality(labels=labels, pred_probs=probs, num_examples=len(labels))
    noise = {scale.labels[int(row["Class Index"])]: float(row["Label Noise"]) for _, row in classes.iterrows()}
    return Ranking(quality, np.asarray(flagged, dtype=bool), probs.argmax(axis=1), noise)


def summary(ranking: Ranking, label_ids: list[int], scale: ScoreScale) -> dict[str, Any]:
    """Rows and flagged rows per given level, the estimated share of wrong labels of each, and where the flagged
    rows' suggested scores lie (given level -> suggested level -> rows)."""
    labels = np.asarray(label_ids, dtype=int)
    per_level = {
        label: {
            "rows": int((labels == i).sum()),
            "flagged": int((ranking.flagged & (labels == i)).sum()),
            "estimated_wrong": round(ranking.noise_per_level.get(label, 0.0), 4),
        }
        for i, label in enumerate(scale.labels)
    }
    moves: dict[str, dict[str, int]] = {}
    for given, suggested in zip(labels[ranking.flagged], ranking.suggested[ranking.flagged], strict=True):
        row = moves.setdefault(scale.labels[given], {})
        row[scale.labels[suggested]] = row.get(scale.labels[suggested], 0) + 1
    return {
        "rows": len(labels),
        "flagged": int(ranking.flagged.sum()),
        "share_flagged": round(float(ranking.flagged.mean()), 4) if len(labels) else 0.0,
        "per_level": per_level,
        "flagged_moves": moves,
        "method": METHOD,
    }
