"""Reading and validating data files, discovering the score scale, and splitting.

Every problem is reported with the file, the offending rows (1-based, as a spreadsheet shows them,
counting the header as row 1) and the fix.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SentscoreError

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
TEXT_SUFFIXES = {".txt", ".text", ""}
MAX_ROWS_LISTED = 8


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


def _rows(indices: Sequence[int], verb: str = "") -> str:
    """Row numbers as a spreadsheet shows them (header = row 1), then ``verb`` ("hold", "have") agreeing."""
    shown = ", ".join(str(i + 2) for i in indices[:MAX_ROWS_LISTED])
    more = f" and {len(indices) - MAX_ROWS_LISTED} more" if len(indices) > MAX_ROWS_LISTED else ""
    plural = len(indices) > 1
    if verb and not plural:
        verb = {"have": "has"}.get(verb, verb + "s")
    return f"row{'s' if plural else ''} {shown}{more}" + (f" {verb}" if verb else "")


def _csv_separator(path: Path) -> str:
    """',' unless the header has no comma but a semicolon: spreadsheets in many locales save "CSV" that way."""
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        header = handle.readline()
    if "," not in header and ";" in header:
        logger.info("%s: columns separated by ';' (read as such)", path)
        return ";"
    return ","


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


def iter_table(path: str | Path, text_column: str = "sentence", chunk_rows: int = 8192) -> Iterator[pd.DataFrame]:
    """``read_table(path, text_column, keep_empty_lines=True)`` in chunks of at most ``chunk_rows`` rows, so
    that a file of any size is read in flat memory; the same checks and messages, raised when reached."""
    path = Path(path)
    kind = _table_kind(path)
    any_rows = False
    with _parse_errors(path, kind):
        for chunk in _frames(path, kind, text_column, keep_empty_lines=True, chunk_rows=chunk_rows):
            any_rows = any_rows or not chunk.empty
            yield chunk.reset_index(drop=True)
    if not any_rows:
        raise SentscoreError(f"{path} has no data rows", hint="Add rows below the header.")


def _frames(
    path: Path, kind: str, text_column: str, keep_empty_lines: bool, chunk_rows: int | None
) -> Iterator[pd.DataFrame]:
    """The file's rows as frames of at most ``chunk_rows`` rows (None: one frame of them all)."""
    import pandas as pd

    if kind == "text":
        yield from _text_chunks(path, text_column, chunk_rows)
        return
    if kind == "jsonl":
        read = pd.read_json(path, lines=True, dtype=False, encoding="utf-8-sig", chunksize=chunk_rows)
    else:
        read = pd.read_csv(path, chunksize=chunk_rows, **_csv_options(path, kind, keep_empty_lines))
    for frame in [read] if chunk_rows is None else read:
        yield _strings(frame) if kind == "jsonl" else frame


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
        raise SentscoreError(f"{path} is empty", hint="Add a header line and at least a few rows.")
    return kind


def _csv_options(path: Path, kind: str, keep_empty_lines: bool) -> dict[str, Any]:
    return {
        "sep": "\t" if kind == "tsv" else _csv_separator(path),
        "dtype": str,
        "keep_default_na": False,
        "na_values": [],
        "skip_blank_lines": not keep_empty_lines,
        "encoding": "utf-8-sig",  # spreadsheets' "CSV UTF-8" starts with a byte-order mark
    }


def _strings(frame: pd.DataFrame) -> pd.DataFrame:
    """JSON values as strings (None stays None), like the CSV reader's, so nothing is converted."""
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.apply(lambda col: col.map(lambda v: v if v is None else str(v)))


def _text_chunks(path: Path, text_column: str, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    """The non-blank lines of a text file, ``chunk_rows`` at a time (None: all at once)."""
    import pandas as pd

    with path.open(encoding="utf-8-sig") as handle:
        lines = (line.rstrip("\r\n") for line in handle if line.strip())
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
            f"{path} is not valid UTF-8 text: {_undecodable_place(path)} cannot be decoded",
            hint="Re-save the file as UTF-8 (e.g. in a spreadsheet: Save As > CSV UTF-8).",
        ) from None
    except pd.errors.EmptyDataError:
        raise SentscoreError(f"{path} is empty", hint="Add a header line and at least a few rows.") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise SentscoreError(
            f"{path} could not be parsed as {kind.upper()}: {str(exc).strip()}",
            hint="Check quoting and that every row has the same number of fields as the header.",
        ) from None


def _undecodable_place(path: Path) -> str:
    """Where the first byte that is not UTF-8 is: its row (1-based line, as a spreadsheet counts) and byte."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")  # a byte-order mark is valid UTF-8, so the offset counts from the file's start
    except UnicodeDecodeError as exc:
        row = raw[: exc.start].count(b"\n") + 1
        return f"row {row} (byte {exc.start})"
    return "a byte"


def require_columns(frame: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = ", ".join(repr(str(c)) for c in frame.columns)
        names = ", ".join(repr(c) for c in missing)
        raise SentscoreError(
            f"{source}: column{'s' if len(missing) > 1 else ''} {names} not found; the columns found are {found}",
            hint="Rename the columns in the file, or name yours with --text-column / --score-column "
            "(config keys text_column / score_column).",
        )


def check_texts(texts: pd.Series, source: str, column: str) -> list[str]:
    blank = blank_positions(texts)
    if blank:
        raise blank_texts_error(source, column, blank)
    return [str(t) for t in texts]


def blank_texts_error(source: str, column: str, blank: Sequence[int]) -> SentscoreError:
    return SentscoreError(f"{source}: blank '{column}' in {_rows(blank)}", hint="Fill in or delete those rows.")


def _numeric_scores(raw: list[str], source: str, column: str) -> list[int] | None:
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
        raise SentscoreError(
            f"{source}: column '{column}' mixes numbers and text; {_rows(text_rows, 'hold')} {examples}",
            hint="Make every score a whole number (e.g. 1..5), or every score a text label.",
        )
    fractional = [i for i, n in enumerate(numbers) if not float(n).is_integer()]
    if fractional:
        examples = ", ".join(raw[i] for i in fractional[:3])
        raise SentscoreError(
            f"{source}: column '{column}' has fractional scores ({examples}) in {_rows(fractional)}",
            hint="Scores are ordinal levels: round them to whole numbers, or map them to levels first.",
        )
    return [int(n) for n in numbers]


def discover_scale(
    raw_scores: list[str], source: str, column: str, num_labels: int | None = None, labels: list[str] | None = None
) -> tuple[ScoreScale, list[int]]:
    """Find the label set and map each row to a label id.

    Integer scores give a contiguous scale from the lowest to the highest (1..5, 0..10): a level missing
    from the data still gets its id, so ids never shift. With ``num_labels`` N the scale is 1..N as in
    the recipe (or starts at the data's lowest score when that is below 1). Text labels are sorted
    unless ``labels`` orders them.
    """
    if labels is not None:
        scale = ScoreScale(tuple(str(label) for label in labels))
        lookup = scale.label2id
        if scale.is_numeric:  # "4.0" and "4" name the same level
            lookup.update({str(v): i for i, v in enumerate(scale.values)})
            lookup.update({str(int(v)): i for i, v in enumerate(scale.values) if v.is_integer()})
        unknown = [i for i, s in enumerate(raw_scores) if s.strip() not in lookup]
        if unknown:
            found = sorted({raw_scores[i] for i in unknown})[:5]
            raise SentscoreError(
                f"{source}: {_rows(unknown, 'have')} '{column}' values {found} outside the labels {list(scale.labels)}",
                hint="Fix those rows, or add the labels to the 'labels' list.",
            )
        return scale, [lookup[s.strip()] for s in raw_scores]

    numbers = _numeric_scores(raw_scores, source, column)
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
                f"but {_rows(outside, 'hold')} {found}",
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


def load_labelled(
    path: str | Path,
    text_column: str = "sentence",
    score_column: str = "score",
    num_labels: int | None = None,
    labels: list[str] | None = None,
    scale: ScoreScale | None = None,
) -> LabelledData:
    """Read and validate a labelled file. Pass ``scale`` to check against a trained model's labels."""
    frame = read_table(path, text_column)
    source = str(path)
    require_columns(frame, [text_column, score_column], source)
    texts = check_texts(frame[text_column], source, text_column)
    raw_scores = ["" if s is None else str(s) for s in frame[score_column]]
    blank = [i for i, s in enumerate(raw_scores) if not s.strip()]
    if blank:
        raise SentscoreError(
            f"{source}: blank '{score_column}' in {_rows(blank)}", hint="Fill in or delete those rows."
        )
    if scale is not None:
        scale_found, ids = discover_scale(raw_scores, source, score_column, labels=list(scale.labels))
    else:
        scale_found, ids = discover_scale(raw_scores, source, score_column, num_labels, labels)
    return LabelledData(texts, ids, scale_found, source)


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


def read_texts(path: str | Path, text_column: str = "sentence") -> tuple[pd.DataFrame, list[str]]:
    """Read a file to score: the whole table (to write back with scores) and its texts; a blank text is an
    error naming its rows."""
    frame = read_table(path, text_column)
    require_columns(frame, [text_column], str(path))
    texts = check_texts(frame[text_column], str(path), text_column)
    return frame, texts


#: What file scoring does with rows whose text is blank: leave their score cells empty (skip), stop with an
#: error naming them (fail), or leave them out of the output (drop).
BLANK_ROWS = ("skip", "fail", "drop")


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
    if blank_rows not in BLANK_ROWS:
        raise SentscoreError(f"Unknown blank_rows '{blank_rows}'", hint=f"Use one of {', '.join(BLANK_ROWS)}.")
    rows, blank = 0, []
    for chunk in iter_table(path, text_column, chunk_rows):
        require_columns(chunk, [text_column], str(path))
        blank += [rows + i for i in blank_positions(chunk[text_column])]
        rows += len(chunk)
    if blank and blank_rows == "fail":
        raise blank_texts_error(str(path), text_column, blank)
    if blank:
        fate = "left out of the output" if blank_rows == "drop" else "their score cells are left empty"
        logger.warning("%s: %s a blank '%s', so not scored (%s)", path, _rows(blank, "have"), text_column, fate)
    return RowsToScore(rows, blank)


def blank_positions(texts: pd.Series) -> list[int]:
    """Positions of missing (None, NaN, pandas' NA: what Arrow-backed readers give for an empty cell) or
    whitespace-only texts."""
    import pandas as pd

    return [i for i, t in enumerate(texts) if t is None or t is pd.NA or t != t or not str(t).strip()]


#: First characters that make a spreadsheet read a cell as a formula (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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


def write_table(frame: pd.DataFrame, path: str | Path, safe_for_spreadsheets: bool = False) -> None:
    """Write ``frame`` in the format ``path``'s suffix names (CSV otherwise), atomically: the file appears
    whole or not at all. ``safe_for_spreadsheets`` neutralises cells a spreadsheet would run as formulas."""
    with table_writer(path, safe_for_spreadsheets) as write:
        write(frame)


@contextlib.contextmanager
def table_writer(path: str | Path, safe_for_spreadsheets: bool = False) -> Iterator[Callable[[pd.DataFrame], None]]:
    """A function that appends a frame to the table at ``path`` (format from its suffix, CSV otherwise), written
    beside it and put in its place only when the block ends without error: the file appears whole or not at all."""
    from . import atomic

    path = Path(path)
    kind = TABLE_SUFFIXES.get(path.suffix.lower(), "csv")
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
