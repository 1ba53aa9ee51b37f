"""Data: reading and checking files, the score scale, the split, and writing scored tables.

Every problem names the file, the rows (as a spreadsheet numbers them) and the fix."""

from .inputs import BLANK_ROWS, SentencesIn, sentences_in
from .labelled import LabelledData, load_labelled, split
from .readers import (
    RowsToScore,
    blank_positions,
    check_columns_first,
    iter_table,
    read_table,
    read_texts,
    scan_rows_to_score,
)
from .scale import ScoreScale, discover_scale
from .unlabelled import UnlabelledData, load_unlabelled
from .writers import table_format, table_writer, write_table

__all__ = [
    "BLANK_ROWS",
    "LabelledData",
    "RowsToScore",
    "ScoreScale",
    "SentencesIn",
    "UnlabelledData",
    "blank_positions",
    "check_columns_first",
    "discover_scale",
    "iter_table",
    "load_labelled",
    "load_unlabelled",
    "read_table",
    "read_texts",
    "scan_rows_to_score",
    "sentences_in",
    "split",
    "table_format",
    "table_writer",
    "write_table",
]
