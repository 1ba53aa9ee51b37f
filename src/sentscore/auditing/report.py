"""What an audit writes: the table of rows, most suspect first (CSV or JSON Lines, as predict writes them), the
summary as JSON, a plot of given against suggested scores, and optionally the input without the flagged rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import atomic
from ..data import ScoreScale, read_table, table_format, write_table

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from .folds import Pool
    from .ranking import Ranking

SUMMARY_FILE = "summary.json"
PLOT_FILE = "given_vs_suggested.png"


def input_rows(pool: Pool, text_column: str) -> pd.DataFrame:
    """Each audited row with its file's columns as read (the text column first), in the pool's order."""
    import pandas as pd

    frames = {file: read_table(file, text_column) for file in dict.fromkeys(pool.files)}
    parts = [frames[file].iloc[[row]] for file, row in zip(pool.files, pool.rows, strict=True)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def issues_table(pool: Pool, ranking: Ranking, probs: np.ndarray, inputs: pd.DataFrame) -> pd.DataFrame:
    """Every row, most suspect first: its row number as a spreadsheet shows it (and its file, when two files
    were audited), its columns (``inputs``), the given and suggested score, the label quality, whether it is
    flagged, and the probabilities of every score."""
    import pandas as pd

    scale = pool.data.scale
    table = inputs
    front = {"row": [row + 2 for row in pool.rows]}
    if len(set(pool.files)) > 1:
        front["file"] = [Path(file).name for file in pool.files]
    table = pd.concat([pd.DataFrame(front), table], axis=1)
    table["given_score"] = [scale.parse(scale.labels[i]) for i in pool.data.label_ids]
    table["suggested_score"] = [scale.parse(scale.labels[i]) for i in ranking.suggested]
    table["label_quality"] = np.round(ranking.quality, 6)
    table["expected_distance"] = np.round(ranking.expected_distance, 4)
    table["flagged"] = ranking.flagged
    for j, label in enumerate(scale.labels):
        table[f"prob_{label}"] = np.round(probs[:, j].astype(float), 6)
    order = np.lexsort((np.arange(len(table)), ranking.quality, ~ranking.flagged))  # flagged first, then quality
    return table.iloc[order].reset_index(drop=True)


def given_against_suggested(table: pd.DataFrame, scale: ScoreScale) -> Figure:
    """Counts of the flagged rows by given score (rows) and suggested score (columns)."""
    from matplotlib.figure import Figure

    index = {label: i for i, label in enumerate(scale.labels)}
    counts = np.zeros((len(scale), len(scale)), dtype=int)
    flagged = table[table["flagged"]]
    for given, suggested in zip(flagged["given_score"], flagged["suggested_score"], strict=True):
        counts[index[str(given)], index[str(suggested)]] += 1
    size = max(4.0, 0.6 * len(scale) + 2)
    fig = Figure(figsize=(size, size * 0.85))
    ax = fig.subplots()
    image = ax.imshow(counts, cmap="Oranges")
    ax.set_xticks(range(len(scale)), scale.labels)
    ax.set_yticks(range(len(scale)), scale.labels)
    ax.set_xlabel("Suggested score (held-out model)")
    ax.set_ylabel("Given score")
    ax.set_title(f"Flagged rows: {int(counts.sum())}")
    for (row, col), value in np.ndenumerate(counts):
        ax.text(col, row, str(value), ha="center", va="center", color="black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


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
    table_format(output)
    if cleaned is not None:
        table_format(cleaned[0])
    folder.mkdir(parents=True, exist_ok=True)
    write_table(table, output)
    atomic.write_text(folder / SUMMARY_FILE, json.dumps(found, indent=2) + "\n")
    with atomic.replacing(folder / PLOT_FILE) as temporary:
        given_against_suggested(table, scale).savefig(temporary, dpi=110, format="png")
    if cleaned is not None:
        write_table(cleaned[1], cleaned[0])
