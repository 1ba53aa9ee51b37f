"""Labelled data: a checked file of texts and their levels, and the stratified split into training and
validation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import SentscoreError
from .readers import (
    FILL_IN,
    blank_positions,
    blank_texts_error,
    is_text_file,
    read_table,
    require_columns,
    rows_named,
)
from .scale import ScoreScale, discover_scale


@dataclass
class LabelledData:
    texts: list[str]
    label_ids: list[int]
    scale: ScoreScale
    source: str
    #: A teacher model's probability distribution over the levels for each text (knowledge distillation).
    teacher_probs: list[list[float]] | None = None

    def __len__(self) -> int:
        return len(self.texts)


def load_labelled(
    path: str | Path,
    text_column: str = "sentence",
    score_column: str = "score",
    num_labels: int | None = None,
    labels: list[str] | None = None,
    scale: ScoreScale | None = None,
    scale_from: str = "the model",
) -> LabelledData:
    """Read and validate a labelled file. Pass ``scale`` to check against a trained model's labels (or, with
    ``scale_from`` "the training file", the training data's)."""
    check_labelled_kind(path, text_column, score_column)
    frame = read_table(path, text_column)
    source = str(path)
    require_columns(frame, [text_column, score_column], source)
    # Every problem of the file in one message, as a config's are, so that one round of fixes is enough.
    problems: list[SentscoreError] = []
    blank_texts = blank_positions(frame[text_column])
    if blank_texts:
        problems.append(blank_texts_error(source, text_column, blank_texts))
    raw_scores = ["" if s is None else str(s) for s in frame[score_column]]
    blank = [i for i, s in enumerate(raw_scores) if not s.strip()]
    if blank:
        named = rows_named(blank, source=source)
        problems.append(SentscoreError(f"{source}: blank '{score_column}' in {named}", hint=FILL_IN))
    filled = [i for i, s in enumerate(raw_scores) if s.strip()]
    try:
        given = {"labels": list(scale.labels), "labels_from": scale_from} if scale is not None else {"labels": labels}
        scale_found, ids = discover_scale(
            [raw_scores[i] for i in filled], source, score_column, num_labels, rows=filled, **given
        )
    except SentscoreError as problem:
        problems.append(problem)
    if problems:
        raise all_of(problems, source)
    texts = [str(t) for t in frame[text_column]]
    return LabelledData(texts, ids, scale_found, source)


def check_labelled_kind(path: str | Path, text_column: str = "sentence", score_column: str = "score") -> None:
    """A labelled file is a table: a plain text file (one sentence a line) has no scores to learn or check."""
    if is_text_file(path):
        raise SentscoreError(
            f"{path} is plain text (one sentence a line, no scores), but this needs a labelled file",
            hint=f"Give a CSV, TSV or JSON Lines file with a '{text_column}' and a '{score_column}' column.",
        )


def all_of(problems: list[SentscoreError], source: str | None = None) -> SentscoreError:
    """One error for several problems: of one file (``source``), named after it once and joined by "; "; of
    several files (no ``source``), each file's message on its own line, a file given twice named once. Each
    hint is kept once, also where one file's hint already holds another's."""
    if len(problems) == 1:
        return problems[0]
    hints: list[str] = []
    for problem in problems:
        if problem.hint and problem.hint not in " ".join(hints):
            hints.append(problem.hint)
    if source is None:
        message = "\n".join(dict.fromkeys(p.message for p in problems))
    else:
        message = f"{source}: " + "; ".join(p.message.removeprefix(f"{source}: ") for p in problems)
    return SentscoreError(message, hint=" ".join(hints) or None)


def split(data: LabelledData, fraction: float, seed: int) -> tuple[LabelledData, LabelledData]:
    """A seeded split stratified by label, so every level is represented on both sides."""
    from collections import Counter

    import numpy as np

    counts = Counter(data.label_ids)
    too_few = {data.scale.labels[i]: n for i, n in sorted(counts.items()) if n < 2}
    if too_few:
        detail = ", ".join(f"'{k}' ({n} row)" for k, n in too_few.items())
        raise SentscoreError(
            f"{data.source}: score level{'s' if len(too_few) > 1 else ''} {detail} has too few rows to split "
            "into training and validation",
            hint="Add at least two rows per level, merge rare levels, or give a separate validation_file.",
        )
    # Per level, so every level lands on both sides (sklearn's stratified split rounds small levels to 0).
    rng = np.random.default_rng(seed)
    by_level: dict[int, list[int]] = {}
    for index, label in enumerate(data.label_ids):
        by_level.setdefault(label, []).append(index)
    quotas = _allocate({label: len(members) for label, members in by_level.items()}, round(len(data) * fraction))
    train_idx, val_idx = [], []
    for label in sorted(by_level):
        members = rng.permutation(by_level[label]).tolist()
        val_idx += members[: quotas[label]]
        train_idx += members[quotas[label] :]

    def take(idx: list[int]) -> LabelledData:
        return LabelledData([data.texts[i] for i in idx], [data.label_ids[i] for i in idx], data.scale, data.source)

    return take(sorted(train_idx)), take(sorted(val_idx))


def _allocate(sizes: dict[int, int], total: int) -> dict[int, int]:
    """Validation rows per level: proportional to its size (largest remainders get the extra rows),
    at least 1 and at most size - 1, so every level is on both sides."""
    share = {k: n * total / sum(sizes.values()) for k, n in sizes.items()}
    quotas = {k: min(sizes[k] - 1, max(1, math.floor(q))) for k, q in share.items()}
    by_remainder = sorted(sizes, key=lambda k: share[k] - math.floor(share[k]), reverse=True)
    for k in by_remainder:
        if sum(quotas.values()) >= total:
            break
        if quotas[k] < sizes[k] - 1:
            quotas[k] += 1
    return quotas
