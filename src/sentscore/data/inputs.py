"""Sentences handed over in memory (a list, a tuple, a pandas Series, a numpy array, command-line arguments,
standard input): each one becomes exactly one answer or a named refusal. A missing value (None, NaN, pandas'
NA) or a blank string is a blank row, treated as files treat theirs (``blank_rows``); anything else that is
not text is refused, naming its position."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import SentscoreError

#: What scoring does with a blank text (a blank line, an empty cell, None or NaN): leave its answer empty
#: (skip), stop with an error naming it (fail), or leave it out of the answers (drop).
BLANK_ROWS = ("skip", "fail", "drop")

MAX_LISTED = 10


@dataclass
class SentencesIn:
    """The sentences as given: ``texts`` (one per input, "" where it was blank or missing) and the positions
    (0-based) of the blank ones, which are not scored."""

    texts: list[str]
    blank: list[int]

    @property
    def to_score(self) -> list[str]:
        """The texts that are scored, in order: those that are not blank."""
        skipped = set(self.blank)
        return [text for i, text in enumerate(self.texts) if i not in skipped]

    @property
    def positions(self) -> list[int]:
        """The positions of the texts that are scored."""
        skipped = set(self.blank)
        return [i for i in range(len(self.texts)) if i not in skipped]


def is_missing(value: Any) -> bool:
    """None, NaN or pandas' NA: a value that is not there (what a reader gives for an empty cell)."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    if type(value).__name__ in {"NAType", "NaTType"}:  # pandas' NA and NaT, without importing pandas
        return True
    try:
        return bool(value != value)  # numpy's floating NaN
    except (TypeError, ValueError):
        return False


def not_text_at(text: str) -> int | None:
    """Where ``text`` holds something that is not Unicode text, or None: a lone UTF-16 surrogate, which is
    what Python makes of a byte that is not UTF-8 (standard input or arguments read with ``surrogateescape``)
    and what a JSON escape such as "\\ud800" gives. No tokenizer can read one."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return error.start
    return None


NOT_UTF8_HINT = "Give UTF-8 text: convert the input first (e.g. iconv -f latin1 -t utf-8 for Latin-1 text)."


def is_blank(value: Any) -> bool:
    """A missing value or a string of white space only."""
    return is_missing(value) or (isinstance(value, str) and not value.strip())


def check_blank_rows(blank_rows: str, name: str = "blank_rows") -> None:
    if blank_rows not in BLANK_ROWS:
        raise SentscoreError(f"Unknown {name} {blank_rows!r}", hint=f"Use one of {', '.join(BLANK_ROWS)}.")


def positions_named(positions: list[int], name: str) -> str:
    """``texts[1, 4]`` (0-based, as Python indexes them) or ``lines 2, 5`` (1-based), at most MAX_LISTED shown."""
    shown = positions[:MAX_LISTED]
    more = f" and {len(positions) - MAX_LISTED} more" if len(positions) > MAX_LISTED else ""
    if name.endswith("[]"):
        return f"{name[:-2]}[{', '.join(map(str, shown))}]{more}"
    plural = name + ("s" if len(positions) > 1 else "")
    return f"{plural} {', '.join(str(i + 1) for i in shown)}{more}"


def sentences_in(
    values: Iterable[Any] | str,
    blank_rows: str = "fail",
    name: str = "texts[]",
    blank_hint: str = "Drop blank sentences before scoring, or pass blank_rows='skip' to get an empty answer for them.",
) -> SentencesIn:
    """Check sentences given in memory: a single string is one sentence; a missing value or blank string is a
    blank row (with ``blank_rows`` "fail" an error naming every one); any other value that is not a string
    (a number, bytes, a list) is refused, naming its position. ``name`` is how positions are named: "texts[]"
    (Python's 0-based index) or a word such as "sentence" or "line" (1-based)."""
    check_blank_rows(blank_rows)
    if isinstance(values, str):
        values = [values]
    elif isinstance(values, bytes | dict) or not isinstance(values, Iterable):
        raise SentscoreError(
            f"{name.rstrip('[]')} must be a string or a list of strings, got {type(values).__name__}",
            hint="Pass the sentences as a list (a tuple, a pandas Series or a numpy array of strings also works).",
        )
    values = list(values)
    texts, blank, wrong = [], [], []
    undecodable: dict[int, int] = {}  # position: where in it
    for i, value in enumerate(values):
        if isinstance(value, str):  # numpy's str_ too
            texts.append(str(value))
            if not value.strip():
                blank.append(i)
            elif (at := not_text_at(value)) is not None:
                undecodable[i] = at
        elif is_missing(value):
            texts.append("")
            blank.append(i)
        else:
            texts.append("")
            wrong.append(i)
    if wrong:
        first = values[wrong[0]]
        raise SentscoreError(
            f"{positions_named(wrong, name)} {'is' if len(wrong) == 1 else 'are'} not text "
            f"({type(first).__name__} {_shown(first)}{' first' if len(wrong) > 1 else ''})",
            hint="Give each sentence as a string; convert values meant as text with str() first.",
        )
    if undecodable:
        first, at = next(iter(undecodable.items()))
        raise SentscoreError(
            f"{positions_named(list(undecodable), name)} {'is' if len(undecodable) == 1 else 'are'} not valid text: "
            f"{'the first holds' if len(undecodable) > 1 else 'it holds'} {values[first][at]!r}, a byte "
            "that is not UTF-8 or half of a UTF-16 pair",
            hint=NOT_UTF8_HINT,
        )
    if blank and blank_rows == "fail":
        raise SentscoreError(
            f"{positions_named(blank, name)} {'is' if len(blank) == 1 else 'are'} blank"
            + (f" ({len(blank)} of {len(values)})" if len(values) > 1 else ""),
            hint=blank_hint,
        )
    return SentencesIn(texts, blank)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
