"""The score scale: the ordered levels a model predicts, discovered from a file's score column."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import SentscoreError
from .readers import rows_named


@dataclass(frozen=True)
class ScoreScale:
    """The ordered set of labels a model predicts, with ids 0..n-1.

    ``labels`` are strings (as stored in the model's ``id2label``); ``values`` are their numbers when
    every label is numeric, which enables the ordinal metrics and the expected score.
    """

    labels: tuple[str, ...]

    @property
    def values(self) -> tuple[float, ...] | None:
        try:
            return tuple(float(label) for label in self.labels)
        except ValueError:
            return None

    @property
    def is_numeric(self) -> bool:
        return self.values is not None

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    def __len__(self) -> int:
        return len(self.labels)

    def parse(self, label: str) -> int | float | str:
        """A label as the user wrote it: 4 rather than "4"."""
        if self.is_numeric:
            value = float(label)
            return int(value) if value.is_integer() else value
        return label


def _numeric_scores(raw: list[str], source: str, column: str, rows: Sequence[int]) -> list[int] | None:
    """Integer scores, or None if the column holds text labels. Mixed or fractional scores are errors."""
    numbers: list[float | None] = []
    for value in raw:
        try:
            number = float(value)
            numbers.append(number if math.isfinite(number) else None)
        except ValueError:
            numbers.append(None)
    text_rows = [i for i, n in enumerate(numbers) if n is None]
    if len(text_rows) == len(raw):
        return None
    if text_rows:
        examples = ", ".join(repr(raw[i]) for i in text_rows[:3])
        named = rows_named(_at(rows, text_rows), "hold", source)
        raise SentscoreError(
            f"{source}: column '{column}' mixes numbers and text; {named} {examples}",
            hint="Make every score a whole number (e.g. 1..5), or every score a text label.",
        )
    fractional = [i for i, n in enumerate(numbers) if not float(n).is_integer()]
    if fractional:
        examples = ", ".join(raw[i] for i in fractional[:3])
        named = rows_named(_at(rows, fractional), source=source)
        raise SentscoreError(
            f"{source}: column '{column}' has fractional scores ({examples}) in {named}",
            hint="Scores are ordinal levels: round them to whole numbers, or map them to levels first.",
        )
    return [int(n) for n in numbers]


def discover_scale(
    raw_scores: list[str],
    source: str,
    column: str,
    num_labels: int | None = None,
    labels: list[str] | None = None,
    labels_from: str | None = None,
    rows: Sequence[int] | None = None,
) -> tuple[ScoreScale, list[int]]:
    """Find the label set and map each row to a label id.

    Integer scores give a contiguous scale from the lowest to the highest (1..5, 0..10): a level missing
    from the data still gets its id, so ids never shift. With ``num_labels`` N the scale is 1..N as in
    the recipe (or starts at the data's lowest score when that is below 1). Text labels are sorted
    unless ``labels`` orders them. ``labels_from`` says whose labels those are when they are not the user's own
    ``labels`` list ("the model", "the training file"), so that a score outside them is explained as such.
    ``rows``: each score's position in its file, for the messages (default: the scores are the file's rows).
    """
    rows = range(len(raw_scores)) if rows is None else rows
    if labels is not None:
        return _on_given_labels(raw_scores, source, column, labels, labels_from, rows)

    numbers = _numeric_scores(raw_scores, source, column, rows)
    if numbers is None:
        scale = ScoreScale(tuple(sorted({s.strip() for s in raw_scores})))
        if num_labels is not None and len(scale) != num_labels:
            raise SentscoreError(
                f"{source}: num_labels is {num_labels} but '{column}' holds {len(scale)} labels: {list(scale.labels)}",
                hint="Fix the data or num_labels; to fix the order of text labels, give a 'labels' list.",
            )
        return scale, [scale.label2id[s.strip()] for s in raw_scores]

    low, high = min(numbers), max(numbers)
    if num_labels is not None:
        low = min(low, 1)  # the recipe's 1..N, unless the data starts lower (0..N-1, -2..2)
        high = low + num_labels - 1
        outside = [i for i, n in enumerate(numbers) if not low <= n <= high]
        if outside:
            found = sorted({numbers[i] for i in outside})[:5]
            raise SentscoreError(
                f"{source}: num_labels is {num_labels}, so scores must be {low}..{high}, "
                f"but {rows_named(_at(rows, outside), 'hold', source)} {found}",
                hint=f"Fix those rows, or set num_labels to match the data (it spans {min(numbers)}..{max(numbers)}).",
            )
    if high - low > 100:
        raise SentscoreError(
            f"{source}: scores span {low}..{high}, too many levels for classification",
            hint="Bin the scores into at most 100 levels first.",
        )
    scale = ScoreScale(tuple(str(v) for v in range(low, high + 1)))
    if len(scale) < 2:
        raise SentscoreError(f"{source}: every row has the score {low}", hint="A model needs at least two levels.")
    return scale, [n - low for n in numbers]


def _on_given_labels(
    raw_scores: list[str], source: str, column: str, labels: list[str], labels_from: str | None, rows: Sequence[int]
) -> tuple[ScoreScale, list[int]]:
    """Each row's id on the scale of ``labels`` (a user's list, or a model's levels: ``labels_from``)."""
    scale = ScoreScale(tuple(str(label) for label in labels))
    lookup = scale.label2id
    if scale.is_numeric:  # "4.0" and "4" name the same level
        lookup.update({str(v): i for i, v in enumerate(scale.values)})
        lookup.update({str(int(v)): i for i, v in enumerate(scale.values) if v.is_integer()})
    unknown = [i for i, s in enumerate(raw_scores) if s.strip() not in lookup]
    if unknown:
        found = sorted({raw_scores[i] for i in unknown})[:5]
        raise SentscoreError(
            f"{source}: {rows_named(_at(rows, unknown), 'have', source)} '{column}' values {found} "
            f"outside the labels {list(scale.labels)}",
            hint=f"The levels of {labels_from} are {', '.join(scale.labels)}: fix or drop those rows, or train "
            "a model on this file's scale."
            if labels_from
            else "Fix those rows, or add the labels to the 'labels' list.",
        )
    return scale, [lookup[s.strip()] for s in raw_scores]


def _at(rows: Sequence[int], positions: list[int]) -> list[int]:
    """The file rows of these positions among the scores."""
    return [rows[i] for i in positions]
