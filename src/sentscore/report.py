"""The model card and plots written next to a trained model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .data import ScoreScale
from .metrics import METRIC_NAMES
from .outputs import CARD_FILE, CONFUSION_PNG, CURVE_PNG

CARD_HYPERPARAMETERS = (
    "max_length",
    "train_batch_size",
    "num_train_epochs",
    "learning_rate",
    "weight_decay",
    "warmup_ratio",
    "seed",
    "metric_for_best_model",
    "class_weights",
    "early_stopping_patience",
    "group_by_length",
)


def write_report(output_dir: Path, info: dict[str, Any], metrics: dict[str, Any], scale: ScoreScale) -> None:
    plot_confusion_matrix(metrics["final"]["confusion_matrix"], scale, output_dir / CONFUSION_PNG)
    plot_training_curve(metrics["epochs"], metrics["primary_metric"], output_dir / CURVE_PNG)
    (output_dir / CARD_FILE).write_text(model_card(info, metrics), encoding="utf-8")


def format_metric(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def model_card(info: dict[str, Any], metrics: dict[str, Any]) -> str:
    config = info["config"]
    final, baseline = metrics["final"], metrics["majority_baseline"]
    rows = "\n".join(
        f"| {name} | {format_metric(final.get(key))} | {format_metric(baseline.get(key))} |"
        for key, name in METRIC_NAMES.items()
        if key in final
    )
    params = "\n".join(f"| `{key}` | {config.get(key)} |" for key in CARD_HYPERPARAMETERS)
    epochs = "\n".join(
        f"| {e['epoch']} | {format_metric(e.get('train_loss'))} | {format_metric(e.get('loss'))} | "
        f"{format_metric(e.get(metrics['primary_metric']))} |"
        for e in metrics["epochs"]
    )
    validation = (
        f"`{info['validation_file']}`"
        if info["validation_file"]
        else f"a seeded, stratified {config['validation_fraction']:.0%} split of the training file"
    )
    labels = ", ".join(f"`{label}`" for label in info["labels"])
    return f"""---
library_name: transformers
pipeline_tag: text-classification
base_model: {info["base_model"]}
tags: [sentscore, text-classification, ordinal-regression]
---

# Sentence scorer fine-tuned from `{info["base_model"]}`

Trained with sentscore {info["sentscore_version"]} on
{info["trained_at"]}. It scores a sentence on the scale {labels}.

## Use

```bash
sentscore predict path/to/this/folder "The food was great but the service was slow."
```

```python
from sentscore import Scorer
Scorer.load("path/to/this/folder").predict(["The food was great but the service was slow."])

from transformers import pipeline  # also works, and returns the real score labels
pipeline("text-classification", model="path/to/this/folder")("The food was great.")
```

## Data

- Training: `{info["train_file"]}`, {info["train_samples"]} sentences (text column `{info["text_column"]}`,
  score column `{info["score_column"]}`).
- Validation: {validation}, {info["validation_samples"]} sentences.
- Training took {info["train_seconds"]:.0f} s.

## Validation metrics

The best epoch was chosen by `{metrics["primary_metric"]}`. The baseline always predicts the most common
training score.

| Metric | Model | Majority baseline |
|---|---|---|
{rows}

![Confusion matrix]({CONFUSION_PNG})

## Training

| Epoch | Train loss | Validation loss | {metrics["primary_metric"]} |
|---|---|---|---|
{epochs}

![Training curve]({CURVE_PNG})

| Hyperparameter | Value |
|---|---|
{params}

## Limitations

The metrics above come from one validation set of {info["validation_samples"]} sentences; scores on text
from another domain will differ. Sentences longer than {info["max_length"]} tokens are truncated.
"""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    return plt


def plot_confusion_matrix(matrix: list[list[int]], scale: ScoreScale, path: Path) -> None:
    import numpy as np

    plt = _pyplot()
    counts = np.asarray(matrix)
    size = max(4.0, 0.6 * len(scale) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(scale)), scale.labels)
    ax.set_yticks(range(len(scale)), scale.labels)
    ax.set_xlabel("Predicted score")
    ax.set_ylabel("True score")
    ax.set_title("Confusion matrix (validation)")
    threshold = counts.max() / 2 if counts.size else 0
    for (row, col), value in np.ndenumerate(counts):
        ax.text(col, row, str(value), ha="center", va="center", color="white" if value > threshold else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_training_curve(epochs: list[dict[str, Any]], primary_metric: str, path: Path) -> None:
    plt = _pyplot()
    fig, loss_ax = plt.subplots(figsize=(6.5, 4))
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
    handles = loss_ax.get_legend_handles_labels()[0] + metric_ax.get_legend_handles_labels()[0]
    loss_ax.legend(handles, [h.get_label() for h in handles], loc="center right")
    loss_ax.set_title("Training curve")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
