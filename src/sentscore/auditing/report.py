"""What an audit writes: the table of rows, most suspect first (CSV or JSON Lines, as predict writes them), the
summary as JSON, a plot of given against suggested scores, and optionally the input without the flagged rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import atomic
from ..data import ScoreScale, read_table, table_format, write_table
from ..data.readers import row_numbers
from ..errors import SentscoreError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from .folds import Pool
    from .ranking import Ranking

SUMMARY_FILE = "summary.json"
PLOT_FILE = "given_vs_suggested.png"


def input_rows(pool: Pool, text_column: str) -> pd.DataFrame:
    """Each audited row with its file's columns as read, in the pool's order: every row of each file in turn (a
    labelled file is read whole, its blank rows refused, so the pool holds each file's rows as read)."""
    import pandas as pd

    frames = [read_table(file, text_column) for file in dict.fromkeys(pool.files)]
    return pd.concat(frames, ignore_index=True)


def issues_table(pool: Pool, ranking: Ranking, probs: np.ndarray, inputs: pd.DataFrame) -> pd.DataFrame:
    """Every row, most suspect first: its row number as a spreadsheet shows it, or its line in a JSON Lines
    file (and its file, when two files were audited), its columns (``inputs``), the given and suggested score,
    the label quality, whether it is flagged, and the probabilities of every score."""
    import pandas as pd

    scale = pool.data.scale
    files, rows = np.asarray(pool.files, dtype=object), np.asarray(pool.rows)
    numbers = np.zeros(len(rows), dtype=int)  # a table's row as a spreadsheet shows it, a JSON Lines file's line
    for file in dict.fromkeys(pool.files):
        numbers[files == file] = row_numbers(file, rows[files == file].tolist())[1]
    front = {"row": numbers}
    if len(set(pool.files)) > 1:
        front["file"] = [Path(file).name for file in pool.files]
    table = pd.concat([pd.DataFrame(front), inputs], axis=1)
    table["given_score"] = [scale.parse(scale.labels[i]) for i in pool.data.label_ids]
    table["suggested_score"] = [scale.parse(scale.labels[i]) for i in ranking.suggested]
    table["label_quality"] = np.round(ranking.quality, 6)
    table["expected_distance"] = np.round(ranking.expected_distance, 4)
    table["flagged"] = ranking.flagged
    for j, label in enumerate(scale.labels):
        table[f"prob_{label}"] = np.round(probs[:, j].astype(float), 6)
    order = np.lexsort((np.arange(len(table)), ranking.quality, ~ranking.flagged))  # flagged first, then quality
    return table.iloc[order].reset_index(drop=True)


def given_against_suggested(moves: dict[str, dict[str, int]], scale: ScoreScale) -> Figure:
    """The flagged rows by given score (rows) and suggested score (columns), from the summary's
    ``flagged_moves``."""
    from ..model.figures import count_grid_figure

    counts = [[moves.get(given, {}).get(suggested, 0) for suggested in scale.labels] for given in scale.labels]
    title = f"Flagged rows: {sum(map(sum, counts))}"
    return count_grid_figure(counts, scale, "Suggested score (held-out model)", "Given score", title, "Oranges")


def check_outputs(output: Path, cleaned: Path | None, inputs: list[str | Path]) -> None:
    """Before anything trains: the files to write are of a format sentscore writes, and none is an input (or
    the other)."""
    read = {Path(each).resolve() for each in inputs}
    for flag, path in (("--output", output), ("--cleaned", cleaned)):
        if path is None:
            continue
        table_format(path)
        if path.resolve() in read:
            raise SentscoreError(
                f"{flag} {path} is a file the audit reads", hint=f"Give {flag} a new file, so the input is kept."
            )
    if cleaned is not None and cleaned.resolve() == output.resolve():
        raise SentscoreError(f"--output and --cleaned are both {output}", hint="Give each its own file.")


def write_report(
    folder: Path,
    table: pd.DataFrame,
    found: dict[str, Any],
    scale: ScoreScale,
    output: Path,
    cleaned: tuple[Path, pd.DataFrame] | None = None,
) -> None:
    """The table at ``output``, the summary and the plot in ``folder``, and with ``cleaned`` (a path and the rows
    to keep, in the input's order and columns) the input without the flagged rows; each written whole or not at
    all."""
    folder.mkdir(parents=True, exist_ok=True)
    write_table(table, output)
    atomic.write_text(folder / SUMMARY_FILE, json.dumps(found, indent=2) + "\n")
    with atomic.replacing(folder / PLOT_FILE) as temporary:
        given_against_suggested(found["flagged_moves"], scale).savefig(temporary, dpi=110, format="png")
    if cleaned is not None:
        write_table(cleaned[1], cleaned[0])
