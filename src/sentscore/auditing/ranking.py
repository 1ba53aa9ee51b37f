"""From held-out probabilities to the rows whose score is probably wrong: each row's label quality (the probability
the held-out model gives its score, cleanlab's self-confidence, which ranked the injected errors of SST-5 and
SemEval-4C best), the flagged rows, and cleanlab's estimate of the share of wrong labels of each level.

On an ordered scale a row is flagged when the held-out model expects its true score at least one level away from
the given one (E|k - given| >= 1): on both measured sets that kept over 90% of the rows moved two levels or more
while flagging fewer rows than cleanlab's confident learning, which flags a row one level off as readily as a
distant one (docs/decisions.md). Labels in no order are flagged by cleanlab's ``find_label_issues``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import ScoreScale

#: How the rows are ranked and flagged (recorded in the summary).
QUALITY = "cleanlab self_confidence (the held-out probability of the given score)"
ORDINAL_FLAG = "the held-out expected distance from the given score is at least 1 level"
CLEANLAB_FLAG = "cleanlab find_label_issues, prune_by_noise_rate"
#: Levels between the given score and the held-out model's expectation from which a row is flagged.
FLAG_DISTANCE = 1.0


@dataclass
class Ranking:
    """Each row's label quality in [0, 1] (low: suspect), whether it is flagged, the suggested level (the held-out
    model's most likely one), and the estimated share of wrong labels per level."""

    quality: np.ndarray
    flagged: np.ndarray
    suggested: np.ndarray
    noise_per_level: dict[str, float]
    expected_distance: np.ndarray  # levels between the given score and the held-out model's distribution
    method: dict[str, str]


def expected_distance(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """E|k - given| in levels under each row's held-out distribution."""
    levels = np.arange(probs.shape[1])
    return (probs * np.abs(levels[None, :] - labels[:, None])).sum(axis=1)


def rank(probs: np.ndarray, label_ids: list[int], scale: ScoreScale, ordered: bool = True) -> Ranking:
    """Rank the rows by how likely their given level is wrong, from probabilities of models that never saw them;
    ``ordered``: the levels are in order (numbers, or labels given in order), so distance flags the rows."""
    from cleanlab.dataset import rank_classes_by_label_quality
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels = np.asarray(label_ids, dtype=int)
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum(axis=1, keepdims=True)  # float32 sums that cleanlab's checks would refuse
    quality = get_label_quality_scores(labels, probs, method="self_confidence")
    distance = expected_distance(probs, labels)
    if ordered:
        flagged, how = distance >= FLAG_DISTANCE, ORDINAL_FLAG
    else:  # n_jobs=1: cleanlab would otherwise start a process per core, and a library call starts none
        flagged, how = find_label_issues(labels, probs, filter_by="prune_by_noise_rate", n_jobs=1), CLEANLAB_FLAG
    classes = rank_classes_by_label_quality(labels=labels, pred_probs=probs, num_examples=len(labels))
    noise = {scale.labels[int(row["Class Index"])]: float(row["Label Noise"]) for _, row in classes.iterrows()}
    method = {"label_quality": QUALITY, "flagged": how, "estimated_wrong": "cleanlab rank_classes_by_label_quality"}
    return Ranking(quality, np.asarray(flagged, dtype=bool), probs.argmax(axis=1), noise, distance, method)


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
        "method": ranking.method,
    }
