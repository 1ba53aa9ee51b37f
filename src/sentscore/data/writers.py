"""Writing tables (CSV, TSV, JSONL) atomically, optionally safe to open in a spreadsheet."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .. import atomic
from ..errors import SentscoreError
from .readers import TABLE_SUFFIXES

if TYPE_CHECKING:
    import pandas as pd

#: What an input column whose name a scored table uses for its own is called in the output.
INPUT_PREFIX = "input_"


#: First characters that make a spreadsheet read a cell as a formula (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def keeping_input_columns(frame: pd.DataFrame, added: Collection[str]) -> pd.DataFrame:
    """``frame`` with each of its columns that ``added`` names (a scored file's ``score`` when it was labelled,
    say) renamed ``input_<name>``, so that the added columns never overwrite what the file holds."""
    taken = set(frame.columns) | set(added)
    renamed = {}
    for name in added:
        if name in frame.columns:
            new = INPUT_PREFIX + name
            while new in taken:
                new = INPUT_PREFIX + new
            renamed[name] = new
            taken.add(new)
    return frame.rename(columns=renamed) if renamed else frame


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` in which every text cell a spreadsheet would run as a formula starts with an
    apostrophe, which spreadsheets show as text; numbers (such as -2) are left alone."""

    def safe(cell: object) -> object:
        if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) and not _is_number(cell):
            return "'" + cell
        return cell

    import pandas as pd

    def text_like(column: pd.Series) -> bool:
        return pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)

    return frame.apply(lambda column: column.map(safe) if text_like(column) else column)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def table_format(path: str | Path) -> str:
    """The format a scored table at ``path`` is written in, from its suffix: csv, tsv or jsonl. Any other
    suffix is refused, naming the ones sentscore writes, rather than written as CSV under a misleading name."""
    path = Path(path)
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise SentscoreError(
            f"{path}: sentscore cannot write '{path.suffix or 'no suffix'}' files; it writes "
            + ", ".join(TABLE_SUFFIXES),
            hint=f"Name the output {path.stem}.csv (spreadsheets open CSV), .tsv or .jsonl.",
        )
    return kind


def write_table(frame: pd.DataFrame, path: str | Path, safe_for_spreadsheets: bool = False) -> None:
    """Write ``frame`` in the format ``path``'s suffix names (see :func:`table_format`), atomically: the file appears
    whole or not at all. ``safe_for_spreadsheets`` neutralises cells a spreadsheet would run as formulas."""
    with table_writer(path, safe_for_spreadsheets) as write:
        write(frame)


@contextlib.contextmanager
def table_writer(path: str | Path, safe_for_spreadsheets: bool = False) -> Iterator[Callable[[pd.DataFrame], None]]:
    """A function that appends a frame to the table at ``path`` (format from its suffix), written
    beside it and put in its place only when the block ends without error: the file appears whole or not at all."""
    path = Path(path)
    kind = table_format(path)
    header = True

    with atomic.replacing(path) as temporary, temporary.open("w", encoding="utf-8", newline="") as handle:

        def write(frame: pd.DataFrame) -> None:
            nonlocal header
            if safe_for_spreadsheets:
                frame = neutralise_formulas(frame)
            if kind == "jsonl":
                text = frame.to_json(orient="records", lines=True, force_ascii=False)
                handle.write(text if not text or text.endswith("\n") else text + "\n")
            else:
                frame.to_csv(handle, sep="\t" if kind == "tsv" else ",", index=False, header=header)
            header = False

        yield write
