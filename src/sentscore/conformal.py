"""Conformal score sets: the smallest contiguous range of levels that holds the true level with a chosen
probability, calibrated on held-out sentences (split conformal prediction).

For each sentence the candidate ranges are nested: start at the most likely level and widen by the more
likely neighbour, one level at a time (the ordinal prediction sets of Lu et al., 2022). A held-out sentence's
score is the probability mass of the first range that holds its true level; at coverage 1-a the threshold is
the ceil((n+1)(1-a))-th smallest of the n held-out scores, and a sentence's set is the widest of its ranges
whose mass stays within the threshold (at least the most likely level). A level is then in the set exactly
when its score is within the threshold, so a new sentence's set holds its true level with probability at
least 1-a whenever it is exchangeable with the held-out ones (drawn alike); the guarantee is on average over
sentences, not for each one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .errors import SentscoreError


def nested_ranges(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row, the growing ranges as arrays of shape (n, levels): low and high level of step j, and the
    probability mass the range holds."""
    probs = np.asarray(probs, dtype=np.float64)
    n, levels = probs.shape
    rows = np.arange(n)
    low = high = probs.argmax(axis=1)
    lows, highs, masses = [low], [high], [probs[rows, low]]
    for _ in range(levels - 1):
        left = np.where(low > 0, probs[rows, np.maximum(low - 1, 0)], -1.0)
        right = np.where(high < levels - 1, probs[rows, np.minimum(high + 1, levels - 1)], -1.0)
        grow_left = left >= right
        low = np.where(grow_left, low - 1, low)
        high = np.where(grow_left, high, high + 1)
        lows.append(low)
        highs.append(high)
        masses.append(masses[-1] + np.where(grow_left, left, right))
    return np.stack(lows, axis=1), np.stack(highs, axis=1), np.stack(masses, axis=1)


def nonconformity(probs: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Each held-out sentence's score: the mass of the first nested range that holds its true level."""
    lows, highs, masses = nested_ranges(probs)
    labels = np.asarray(labels)[:, None]
    first = ((lows <= labels) & (labels <= highs)).argmax(axis=1)
    return masses[np.arange(len(masses)), first]


def threshold(scores: Sequence[float], coverage: float) -> float:
    """The mass a set must reach for ``coverage``: the ceil((n+1)·coverage)-th smallest held-out score, or
    every level (a mass above 1) when too few sentences were held out for that coverage."""
    check_coverage(coverage)
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    rank = math.ceil((len(ordered) + 1) * coverage)
    return float(ordered[rank - 1]) if rank <= len(ordered) else math.inf


def score_sets(probs: np.ndarray, mass: float) -> tuple[np.ndarray, np.ndarray]:
    """Low and high level id of each row's set: the widest nested range whose mass is within ``mass`` (the
    most likely level alone when even it holds more)."""
    lows, highs, masses = nested_ranges(probs)
    within = masses <= mass + 1e-9  # the tolerance keeps a held-out score's own range in its set
    step = np.maximum(within.sum(axis=1) - 1, 0)  # masses grow along the row, so the within ones come first
    rows = np.arange(len(step))
    return lows[rows, step], highs[rows, step]


def check_coverage(coverage: float) -> None:
    if not 0 < coverage < 1:
        raise SentscoreError(
            f"the coverage of a score set must be between 0 and 1, got {coverage}",
            hint="e.g. --set 0.9 for sets that hold the true score 90% of the time.",
        )
