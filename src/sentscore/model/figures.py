"""The plots of a trained model (reliability, confusion matrix, training curve), which the model folder writes
beside its card. Figures are built with matplotlib's object API, never pyplot, so drawing them changes no
process-wide backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..data import ScoreScale

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def reliability_figure(reliability: dict[str, list[dict[str, float]]]) -> Figure:
    """The reliability diagram of the validation set: share right against stated probability, as trained and
    as saved (calibrated); the diagonal is perfect calibration."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.8, 4.5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    styles = {"as_trained": ("o--", "tab:orange", "as trained"), "as_saved": ("s-", "tab:blue", "calibrated")}
    for key, points in reliability.items():
        style, colour, label = styles[key]
        ax.plot([p["confidence"] for p in points], [p["accuracy"] for p in points], style, color=colour, label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Probability of the predicted score")
    ax.set_ylabel("Share predicted right")
    ax.set_title("Reliability (validation)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def confusion_matrix_figure(matrix: list[list[int]], scale: ScoreScale) -> Figure:
    return count_grid_figure(matrix, scale, "Predicted score", "True score", "Confusion matrix (validation)", "Blues")


def count_grid_figure(
    matrix: Any, scale: ScoreScale, xlabel: str, ylabel: str, title: str, colours: str = "Blues"
) -> Figure:
    """Counts of level (rows) against level (columns), each cell written in it."""
    import numpy as np
    from matplotlib.figure import Figure

    counts = np.asarray(matrix)
    size = max(4.0, 0.6 * len(scale) + 2)
    fig = Figure(figsize=(size, size * 0.85))
    ax = fig.subplots()
    image = ax.imshow(counts, cmap=colours)
    ax.set_xticks(range(len(scale)), scale.labels)
    ax.set_yticks(range(len(scale)), scale.labels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    threshold = counts.max() / 2 if counts.size else 0
    for (row, col), value in np.ndenumerate(counts):
        ax.text(col, row, str(value), ha="center", va="center", color="white" if value > threshold else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def training_curve_figure(epochs: list[dict[str, Any]], primary_metric: str) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4))
    loss_ax = fig.subplots()
    xs = [e["epoch"] for e in epochs]
    loss_ax.plot(xs, [e.get("train_loss") for e in epochs], "o-", label="train loss", color="tab:blue")
    loss_ax.plot(xs, [e.get("loss") for e in epochs], "s-", label="validation loss", color="tab:orange")
    loss_ax.set_xlabel("Epoch")
    loss_ax.set_ylabel("Loss")
    metric_ax = loss_ax.twinx()
    metric_ax.plot(
        xs, [e.get(primary_metric) for e in epochs], "^-", color="tab:green", label=f"validation {primary_metric}"
    )
    metric_ax.set_ylabel(primary_metric)
    kept = next((e["epoch"] for e in epochs if e.get("kept")), None)
    if kept is not None:
        loss_ax.axvline(kept, color="grey", linestyle=":", label=f"kept (epoch {kept:g})")
    handles = loss_ax.get_legend_handles_labels()[0] + metric_ax.get_legend_handles_labels()[0]
    loss_ax.legend(handles, [h.get_label() for h in handles], loc="center right")
    loss_ax.set_title("Training curve")
    fig.tight_layout()
    return fig
