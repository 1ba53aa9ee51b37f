"""Reading data files (CSV, TSV, JSONL, plain text) whole or in chunks, with every problem reported with the
file, the offending rows (1-based, as a spreadsheet shows them, counting the header as row 1) and the fix."""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SentscoreError, option
from .inputs import check_blank_rows, is_blank

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

TEXT_SUFFIXES = {".txt", ".text", ""}

MAX_ROWS_LISTED = 8
FILL_IN = "Fill in or delete those rows."


def rows_named(indices: Sequence[int], verb: str = "", source: str | Path | None = None) -> str:
    """Rows as the user finds them in ``source`` (:func:`row_numbers`), then ``verb`` ("hold", "have") agreeing."""
    word, numbers = row_numbers(source, indices[:MAX_ROWS_LISTED])
    more = f" and {len(indices) - MAX_ROWS_LISTED} more" if len(indices) > MAX_ROWS_LISTED else ""
    plural = len(indices) > 1
    if verb and not plural:
        verb = {"have": "has", "are": "is"}.get(verb, verb + "s")
    return f"{word}{'s' if plural else ''} {', '.join(map(str, numbers))}{more}" + (f" {verb}" if verb else "")


def row_numbers(source: str | Path | None, indices: Sequence[int]) -> tuple[str, list[int]]:
    """The numbers by which the user finds the records at ``indices`` (0-based, as read) in ``source``, and
    their word: a table's rows as a spreadsheet shows them (the header is row 1); a plain text file's lines
    (one sentence a line); a JSON Lines file's lines, counted in the file (its blank lines are no records)."""
    if source is not None and is_text_file(source):
        return "line", [i + 1 for i in indices]
    path = Path(source) if source is not None else None
    if path is not None and path.suffix.lower() == ".jsonl" and path.is_file() and indices:
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            lines = [number for number, line in enumerate(handle, 1) if line.strip()]
        return "line", [lines[i] if i < len(lines) else i + 1 for i in indices]
    return "row", [i + 2 for i in indices]


def is_text_file(path: str | Path) -> bool:
    """A file read as plain text, one sentence a line, without a header."""
    return Path(path).suffix.lower() in TEXT_SUFFIXES


def _csv_separator(path: Path) -> str:
    """',' unless the header has no comma but a semicolon: spreadsheets in many locales save "CSV" that way."""
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        header = handle.readline()
    if "," not in header and ";" in header:
        stat = path.stat()
        _say_once(f"{path}: columns separated by ';' (read as such)", str(path.resolve()), stat.st_mtime_ns)
        return ";"
    return ","


@functools.lru_cache(maxsize=64)
def _say_once(message: str, *about: object) -> None:
    """Log ``message`` once for what ``about`` names (a file read in two passes is said to be read once)."""
    logger.info(message)


def read_table(path: str | Path, text_column: str = "sentence", keep_empty_lines: bool = False) -> pd.DataFrame:
    """Read CSV, TSV, JSON Lines or plain text (one sentence a line, read into ``text_column``).

    All columns are read as strings so nothing is silently converted (``007`` stays ``007``). An empty line
    of a CSV or TSV is a row of empty cells with ``keep_empty_lines`` (so that a scored file keeps every row),
    else it is skipped.
    """
    path = Path(path)
    kind = _table_kind(path)
    with _parse_errors(path, kind):
        frame = next(_frames(path, kind, text_column, keep_empty_lines, chunk_rows=None), None)
    if frame is None or frame.empty:
        raise SentscoreError(f"{path} has no data rows", hint="Add rows below the header.")
    return frame


def iter_table(
    path: str | Path, text_column: str = "sentence", chunk_rows: int = 8192, check_quotes: bool = True
) -> Iterator[pd.DataFrame]:
    """``read_table(path, text_column, keep_empty_lines=True)`` in chunks of at most ``chunk_rows`` rows, so
    that a file of any size is read in flat memory; the same checks and messages, raised when reached.
    ``check_quotes`` False leaves out the pass over the whole file's quotes, for a read that follows one that
    made it."""
    path = Path(path)
    kind = _table_kind(path)
    any_rows = False
    with _parse_errors(path, kind):
        for chunk in _frames(path, kind, text_column, True, chunk_rows, check_quotes):
            any_rows = any_rows or not chunk.empty
            yield chunk.reset_index(drop=True)
    if not any_rows:
        raise SentscoreError(f"{path} has no data rows", hint="Add rows below the header.")


def _frames(
    path: Path, kind: str, text_column: str, keep_empty_lines: bool, chunk_rows: int | None, check_quotes: bool = True
) -> Iterator[pd.DataFrame]:
    """The file's rows as frames of at most ``chunk_rows`` rows (None: one frame of them all)."""
    import pandas as pd

    if kind == "text":
        yield from _text_chunks(path, text_column, chunk_rows, keep_empty_lines)
        return
    if kind == "jsonl":
        yield from _jsonl_chunks(path, text_column, chunk_rows)
        return
    _check_header(path, kind, check_quotes)
    read = pd.read_csv(path, chunksize=chunk_rows, **_csv_options(path, kind, keep_empty_lines))
    yield from [read] if chunk_rows is None else read


def _table_kind(path: Path) -> str:
    """csv, tsv, jsonl or text, from the suffix, after checking that ``path`` is a non-empty file."""
    if not path.exists():
        raise SentscoreError(
            f"Data file not found: {path}",
            hint="Check the path (relative paths in a config file are taken from the config file's folder).",
        )
    if path.is_dir():
        raise SentscoreError(f"{path} is a folder, not a data file", hint="Give a .csv, .tsv, .jsonl or .txt file.")
    suffix = path.suffix.lower()
    kind = TABLE_SUFFIXES.get(suffix) or ("text" if suffix in TEXT_SUFFIXES else None)
    if kind is None:
        raise SentscoreError(
            f"{path}: unsupported file type '{suffix}'", hint="Use .csv, .tsv, .jsonl or .txt (one sentence a line)."
        )
    if path.stat().st_size == 0:
        fill = "one sentence a line" if kind == "text" else "a header line and at least a few rows"
        raise SentscoreError(f"{path} is empty", hint=f"Add {fill}.")
    return kind


def _csv_options(path: Path, kind: str, keep_empty_lines: bool) -> dict[str, Any]:
    return {
        "sep": "\t" if kind == "tsv" else _csv_separator(path),
        "dtype": str,
        "keep_default_na": False,
        "na_values": [],
        "skip_blank_lines": not keep_empty_lines,
        "encoding": "utf-8-sig",  # spreadsheets' "CSV UTF-8" starts with a byte-order mark
        "index_col": False,  # never a column taken for the index (see _check_header)
    }


def _check_header(path: Path, kind: str, whole_file: bool = True) -> None:
    """Refuse a header that names a column twice: which one holds the text would be a guess, and pandas would
    quietly rename the second (``sentence.1``). Refuse a first row with more fields than the header: pandas
    would take its first field for an index and shift every column left (the scores read as the sentences).
    Refuse a quote that breaks the quoting rules (:func:`_check_quotes`): in the whole file with ``whole_file``,
    else in those two rows."""
    import csv

    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        records = csv.reader(handle, delimiter="\t" if kind == "tsv" else _csv_separator(path), strict=True)
        with _check_quotes(path, records):
            header = next(records, [])
            row, first = next(((number, r) for number, r in enumerate(records, 2) if r), (0, []))
            for _ in records if whole_file else ():  # the rest, for their quotes alone
                pass
    seen: dict[str, int] = {}
    for position, name in enumerate(header, 1):
        if name in seen:
            raise SentscoreError(
                f"{path}: the header names column '{name}' twice (columns {seen[name]} and {position})",
                hint="Give every column its own name in the first row.",
            )
        seen[name] = position
    if len(first) > len(header):
        hint = 'Quote a field that holds the separator ("like, this"), or name every column in the header.'
        if len(header) == 1:
            hint += " One sentence a line, with no other column, reads as plain text: name the file .txt."
        raise SentscoreError(
            f"{path}: row {row} has {len(first)} fields, but the header names "
            f"{len(header)} column{'s' if len(header) > 1 else ''}",
            hint=hint,
        )


@contextlib.contextmanager
def _check_quotes(path: Path, records: Any) -> Iterator[None]:
    """Turn the ``csv`` module's strict errors into a message naming the line. pandas reads such a file without
    a word: text after a closing quote is joined to the field (``"Great" food`` read as ``Great food``), and a
    quote that opens a field and closes lines later joins those lines into one row, so rows went missing."""
    import csv

    try:
        yield
    except csv.Error as error:
        if "expected after" in str(error):
            problem = f"on line {records.line_num} a quoted field is followed by more text"
        elif "unexpected end of data" in str(error):
            problem = f"a quoted field is never closed (the file ends inside it, on line {records.line_num})"
        else:
            problem = f"line {records.line_num}: {error}"
        raise SentscoreError(
            f"{path}: {problem}; a quote that opens a field must close it",
            hint='Remove the stray quote, or quote the whole field and double the quotes inside it ("""Great"" '
            'food"): a quote that opens a field and closes on a later line joins the lines between into one row.',
        ) from None


def _jsonl_chunks(path: Path, text_column: str, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    """The records of a JSON Lines file, ``chunk_rows`` at a time, each value as JSON gave it (an integer id
    stays an integer when written back; null is None); the text column's values as strings. Empty lines are
    no records."""
    import json

    import pandas as pd

    def frame(records: list[dict[str, Any]]) -> pd.DataFrame:
        columns = list(dict.fromkeys(key for record in records for key in record))
        rows = [[record.get(c) for c in columns] for record in records]
        table = pd.DataFrame(rows, columns=columns, dtype=object)
        if text_column in table:
            table[text_column] = [v if v is None or isinstance(v, str) else str(v) for v in table[text_column]]
        return table

    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SentscoreError(
                    f"{path}: line {number} is not valid JSON ({exc.msg}, column {exc.colno})",
                    hint='Each line of a JSON Lines file is one JSON object, such as {"sentence": "..."}.',
                ) from None
            if not isinstance(record, dict):
                raise SentscoreError(
                    f"{path}: line {number} is a JSON {type(record).__name__}, not an object",
                    hint='Each line of a JSON Lines file is one JSON object, such as {"sentence": "..."}.',
                )
            _check_json_text(record, path, number)
            records.append(record)
            if chunk_rows is not None and len(records) == chunk_rows:
                yield frame(records)
                records = []
    if records or chunk_rows is None:
        yield frame(records)


def _check_json_text(record: dict[str, Any], path: Path, number: int) -> None:
    """A JSON escape can spell half of a UTF-16 surrogate pair ("\\ud800"), which is no text: refused, named."""
    from .inputs import not_text_at

    for key, value in record.items():
        at = not_text_at(value) if isinstance(value, str) else None
        if at is not None:
            raise SentscoreError(
                f"{path}: line {number}'s '{key}' is not valid text: {value[at]!r} is half of a UTF-16 surrogate pair",
                hint="Fix that escape: a character past \\uffff is a pair (\\ud83d\\ude00), or itself in UTF-8.",
            )


def _text_chunks(
    path: Path, text_column: str, chunk_rows: int | None, keep_empty_lines: bool
) -> Iterator[pd.DataFrame]:
    """The lines of a text file, ``chunk_rows`` at a time (None: all at once); blank lines are rows with a
    blank text with ``keep_empty_lines`` (so that a scored file keeps a line for every line), else skipped."""
    import pandas as pd

    with path.open(encoding="utf-8-sig") as handle:
        lines = (line.rstrip("\r\n") for line in handle if keep_empty_lines or line.strip())
        while chunk := list(itertools.islice(lines, chunk_rows)):
            yield pd.DataFrame({text_column: chunk})


@contextlib.contextmanager
def _parse_errors(path: Path, kind: str) -> Iterator[None]:
    """Turn the readers' exceptions into messages that name the file, the place and the fix."""
    import pandas as pd

    try:
        yield
    except UnicodeDecodeError:
        raise SentscoreError(
            f"{path} is not valid UTF-8 text: "
            f"{undecodable_place(path.read_bytes(), 'line' if kind in ('text', 'jsonl') else 'row')} cannot be decoded",
            hint="Re-save the file as UTF-8 (e.g. in a spreadsheet: Save As > CSV UTF-8).",
        ) from None
    except pd.errors.EmptyDataError:
        raise SentscoreError(f"{path} is empty", hint="Add a header line and at least a few rows.") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise SentscoreError(
            f"{path} could not be parsed as {kind.upper()}: {str(exc).strip()}",
            hint="Check quoting and that every row has the same number of fields as the header.",
        ) from None


def undecodable_place(raw: bytes, word: str = "row") -> str:
    """Where the first byte of ``raw`` that is not UTF-8 is: its ``word`` ("row" as a spreadsheet counts a
    table's rows, "line" for text and JSON Lines: the 1-based line either way) and byte."""
    try:
        raw.decode("utf-8")  # a byte-order mark is valid UTF-8, so the offset counts from the file's start
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return f"{word} {line} (byte {exc.start})"
    return "a byte"


def require_columns(frame: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = ", ".join(repr(str(c)) for c in frame.columns)
        names = ", ".join(repr(c) for c in missing)
        raise SentscoreError(
            f"{source}: column{'s' if len(missing) > 1 else ''} {names} not found; the columns found are {found}",
            hint=f"Rename the columns in the file, or name yours with {option('text_column')} / "
            f"{option('score_column')}.",
        )


def check_columns_first(path: str | Path, columns: Sequence[str]) -> None:
    """That ``path`` opens as a table and holds ``columns`` (the first of them the text), from its first chunk
    of rows as :func:`scan_rows_to_score` reads it (a JSON Lines chunk has the keys its records have): the
    mistakes a command most often makes, checked before a model loads (seconds, from PyTorch weights), with the
    whole file's quotes. The rest of the file is checked as it is read."""
    for chunk in iter_table(path, columns[0]):  # a file without rows raises once it is read
        require_columns(chunk, columns, str(path))
        return


def check_texts(texts: pd.Series, source: str, column: str) -> list[str]:
    blank = blank_positions(texts)
    if blank:
        raise blank_texts_error(source, column, blank)
    return [str(t) for t in texts]


def blank_texts_error(source: str, column: str, blank: Sequence[int]) -> SentscoreError:
    if is_text_file(source):
        return SentscoreError(f"{source}: {rows_named(blank, 'are', source)} blank", hint="Fill in or delete them.")
    return SentscoreError(f"{source}: blank '{column}' in {rows_named(blank, source=source)}", hint=FILL_IN)


def read_texts(path: str | Path, text_column: str = "sentence") -> tuple[pd.DataFrame, list[str]]:
    """Read a file to score: the whole table (to write back with scores) and its texts; a blank text (an empty
    line too) is an error naming its rows."""
    frame = read_table(path, text_column, keep_empty_lines=True)
    require_columns(frame, [text_column], str(path))
    texts = check_texts(frame[text_column], str(path), text_column)
    return frame, texts


@dataclass
class RowsToScore:
    """What a first pass over a file to score found: its number of rows and the positions (0-based) of the
    rows whose text is blank, which are not scored."""

    rows: int
    blank: list[int]


def scan_rows_to_score(
    path: str | Path, text_column: str = "sentence", blank_rows: str = "skip", chunk_rows: int = 8192
) -> RowsToScore:
    """Read a file to score once, in chunks, before anything is scored: a malformed row, a missing column or
    (with ``blank_rows`` "fail") a blank text stops here, with its row named; with "skip" or "drop" a warning
    names the blank rows (their score cells stay empty, or they are left out)."""
    check_blank_rows(blank_rows)
    rows, blank = 0, []
    for chunk in iter_table(path, text_column, chunk_rows):
        require_columns(chunk, [text_column], str(path))
        blank += [rows + i for i in blank_positions(chunk[text_column])]
        rows += len(chunk)
    if blank and blank_rows == "fail":
        raise blank_texts_error(str(path), text_column, blank)
    if blank:
        fate = "left out of the output" if blank_rows == "drop" else "their score cells are left empty"
        if is_text_file(path):
            logger.warning("%s: %s blank, so not scored (%s)", path, rows_named(blank, "are", path), fate)
        else:
            named = rows_named(blank, "have", path)
            logger.warning("%s: %s a blank '%s', so not scored (%s)", path, named, text_column, fate)
    return RowsToScore(rows, blank)


def blank_positions(texts: pd.Series) -> list[int]:
    """Positions of missing (None, NaN, pandas' NA: what Arrow-backed readers give for an empty cell) or
    whitespace-only texts."""
    return [i for i, t in enumerate(texts) if is_blank(t) or not str(t).strip()]
