"""Unlabelled data: sentences without a score, read like a file to score (CSV, TSV, JSONL or plain text, the
same text column), for a teacher to score and a student to learn from."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SentscoreError
from .readers import blank_positions, read_table, require_columns

logger = logging.getLogger(__name__)


@dataclass
class UnlabelledData:
    texts: list[str]
    source: str
    #: rows not kept, by reason: a blank text, a text seen earlier in the file, a text of the labelled data
    left_out: dict[str, int] = field(default_factory=dict)
    #: the teacher's probability distribution over the levels for each text
    teacher_probs: list[list[float]] | None = None

    def __len__(self) -> int:
        return len(self.texts)


def load_unlabelled(path: str | Path, text_column: str = "sentence", labelled: Iterable[str] = ()) -> UnlabelledData:
    """The distinct texts of ``path``, less blank ones (as file scoring skips them) and those that are also among
    the ``labelled`` texts (their score is known; a validation sentence must stay unseen)."""
    source = str(path)
    try:
        frame = read_table(path, text_column)
        require_columns(frame, [text_column], source)
    except SentscoreError as error:
        raise SentscoreError(f"unlabelled_file: {error.message}", hint=error.hint) from None
    blank = set(blank_positions(frame[text_column]))
    known, seen, texts = set(labelled), set(), []
    left_out = {"blank": len(blank), "repeated": 0, "labelled": 0}
    for position, text in enumerate(frame[text_column]):
        if position in blank:
            continue
        text = str(text)
        reason = "labelled" if text in known else "repeated" if text in seen else None
        if reason:
            left_out[reason] += 1
            continue
        seen.add(text)
        texts.append(text)
    if not texts:
        raise SentscoreError(
            f"unlabelled_file: {source} has no sentence that is not blank or in the labelled data",
            hint="Give a file of sentences without scores, one a row (or leave unlabelled_file unset).",
        )
    if any(left_out.values()):
        words = {"blank": "blank", "repeated": "repeated", "labelled": "also in the labelled data"}
        logger.info(
            "%s: %d sentences kept; left out: %s",
            source,
            len(texts),
            ", ".join(f"{n} {words[reason]}" for reason, n in left_out.items() if n),
        )
    return UnlabelledData(texts, source, left_out)
