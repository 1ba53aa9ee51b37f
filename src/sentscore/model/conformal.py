"""Conformal score sets: a set of levels that holds the true level with a chosen probability, calibrated on
held-out sentences (split conformal prediction).

For each sentence the candidate sets are nested: start at the most likely level and add one level at a time,
in an order the method sets. ``likeliest`` adds the most likely level not yet in (adaptive prediction sets,
Romano et al. 2020, without randomisation), so a set never leaves out a level more likely than one it holds;
where the model is torn between distant levels the set has a gap ("1 or 5"). ``contiguous`` adds the more
likely neighbour (the ordinal prediction sets of Lu et al. 2022), so a set is a range; it is how folders
written before sentscore 0.3 made their sets, and they keep it. A held-out sentence's score is the probability
mass of the first set that holds its true level; at coverage 1-a the threshold is the ceil((n+1)(1-a))-th
smallest of the n held-out scores, and a sentence's set is the largest of its sets whose mass stays within the
threshold (at least the most likely level). A new sentence's set then holds its true level with probability at
least 1-a whenever it is exchangeable with the held-out ones (drawn alike); the guarantee is on average over
sentences, not for each one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import SentscoreError

#: How the nested sets grow; the first is the default.
METHODS = ("likeliest", "contiguous")


def growth_order(probs: np.ndarray, method: str = METHODS[0]) -> np.ndarray:
    """For each row, the level ids in the order its nested sets take them in, shape (n, levels)."""
    probs = np.asarray(probs, dtype=np.float64)
    if method == "likeliest":
        return np.argsort(-probs, axis=1, kind="stable")
    if method != "contiguous":
        raise SentscoreError(f"unknown score-set method '{method}'", hint=f"Use one of {', '.join(METHODS)}.")
    n, levels = probs.shape
    rows = np.arange(n)
    low = high = probs.argmax(axis=1)
    order = [low]
    for _ in range(levels - 1):
        left = np.where(low > 0, probs[rows, np.maximum(low - 1, 0)], -1.0)
        right = np.where(high < levels - 1, probs[rows, np.minimum(high + 1, levels - 1)], -1.0)
        grow_left = left >= right
        low = np.where(grow_left, low - 1, low)
        high = np.where(grow_left, high, high + 1)
        order.append(np.where(grow_left, low, high))
    return np.stack(order, axis=1)


def nested_masses(probs: np.ndarray, method: str = METHODS[0]) -> tuple[np.ndarray, np.ndarray]:
    """The growth order of each row and the probability mass of its nested sets, both of shape (n, levels)."""
    probs = np.asarray(probs, dtype=np.float64)
    order = growth_order(probs, method)
    return order, np.cumsum(np.take_along_axis(probs, order, axis=1), axis=1)


def nonconformity(probs: np.ndarray, labels: Sequence[int], method: str = METHODS[0]) -> np.ndarray:
    """Each held-out sentence's score: the mass of the first nested set that holds its true level."""
    order, masses = nested_masses(probs, method)
    first = (order == np.asarray(labels)[:, None]).argmax(axis=1)
    return masses[np.arange(len(masses)), first]


def threshold(scores: Sequence[float], coverage: float) -> float:
    """The mass a set must reach for ``coverage``: the ceil((n+1)·coverage)-th smallest held-out score, or
    every level (a mass above 1) when too few sentences were held out for that coverage."""
    check_coverage(coverage)
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    rank = math.ceil((len(ordered) + 1) * coverage)
    return float(ordered[rank - 1]) if rank <= len(ordered) else math.inf


def score_sets(probs: np.ndarray, mass: float, method: str = METHODS[0]) -> np.ndarray:
    """Each row's set as a boolean mask over the levels, shape (n, levels): the largest nested set whose mass
    is within ``mass`` (the most likely level alone when even it holds more)."""
    order, masses = nested_masses(probs, method)
    within = masses <= mass + 1e-9  # the tolerance keeps a held-out score's own set in its set
    within[:, 0] = True  # masses grow along the row, so the within ones come first; the likeliest always is
    mask = np.zeros(order.shape, dtype=bool)
    np.put_along_axis(mask, order, within, axis=1)
    return mask


def check_coverage(coverage: float) -> None:
    if not 0 < coverage < 1:
        raise SentscoreError(
            f"the coverage of a score set must be between 0 and 1, got {coverage}",
            hint="e.g. --set 0.9 for sets that hold the true score 90% of the time.",
        )


def describe(in_set: Sequence[bool], labels: Sequence[str]) -> str:
    """A set (a mask over the levels) as a person reads it: "3", "2-4", "1 or 5", "1-2 or 5"."""
    runs: list[tuple[int, int]] = []
    for level, inside in enumerate(in_set):
        if inside and runs and runs[-1][1] == level - 1:
            runs[-1] = (runs[-1][0], level)
        elif inside:
            runs.append((level, level))
    parts = [labels[a] if a == b else f"{labels[a]}-{labels[b]}" for a, b in runs]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
