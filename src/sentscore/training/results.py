"""What training produced: the kept model evaluated as predict scores it, and the model folder written."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import atomic
from ..config import TrainConfig
from ..data import LabelledData, ScoreScale
from ..metrics import (
    bootstrap_intervals,
    compute_metrics,
    expected_calibration_error,
    majority_baseline,
    reliability_bins,
)
from ..model.folder import ModelFolder, ModelInfo, library_versions
from ..model.objectives import Objective
from .steps.calibration import fold_temperature
from .steps.run import HeldOut

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What :func:`train` produced: the final validation metrics of the kept model and how it was made."""

    output_dir: Path
    metrics: dict[str, Any]
    baseline: dict[str, Any]
    epochs: list[dict[str, Any]]
    train_seconds: float
    train_samples: int
    validation_samples: int
    config: TrainConfig  # as resolved: defaults that depend on the model or the machine filled in
    is_main_process: bool = True
    post_fit: dict[str, Any] = dataclasses.field(default_factory=dict)  # what the post-fit steps recorded
    processes: int = 1  # training processes (a multi-process launcher's world size)
    long_texts: dict[str, int] = dataclasses.field(default_factory=dict)  # texts over max_length, and it
    onnx_export: dict[str, Any] = dataclasses.field(default_factory=dict)  # the files exported and the seconds
    unlabelled_samples: int | None = None  # sentences without a score trained on (a teacher's distributions)


@dataclass
class Evaluation:
    """The kept model's validation metrics, the majority-class baseline and the per-epoch history."""

    metrics: dict[str, Any]
    baseline: dict[str, Any]
    epochs: list[dict[str, Any]]


def final_evaluation(
    held_out: HeldOut, trainer: Any, train_data: LabelledData, validation_data: LabelledData, objective: Objective
) -> Evaluation:
    """The model as saved (calibrated) scored on the validation set as predict scores it, with 95% bootstrap
    intervals and its calibration error, beside the majority baseline; warns when the validation set is too
    small to tell the epochs apart."""
    scale = train_data.scale
    probs = objective.probabilities(held_out.outputs)
    predicted = probs.argmax(-1).tolist()
    metrics = compute_metrics(held_out.label_ids.tolist(), predicted, scale)
    metrics["loss"] = held_out.loss
    metrics["ece"] = expected_calibration_error(probs, held_out.label_ids)
    metrics["intervals"] = bootstrap_intervals(held_out.label_ids, predicted, scale)
    as_trained = objective.probabilities_at(held_out.outputs.astype(float), 1.0)
    metrics["reliability"] = {
        "as_trained": reliability_bins(as_trained, held_out.label_ids),
        "as_saved": reliability_bins(probs, held_out.label_ids),
    }
    epochs = _epoch_history(trainer.state.log_history)
    warn_if_epochs_are_indistinguishable(epochs, metrics["intervals"], len(held_out))
    baseline = majority_baseline(train_data.label_ids, validation_data.label_ids, scale)
    return Evaluation(metrics, baseline, epochs)


def warn_if_epochs_are_indistinguishable(
    epochs: list[dict[str, Any]], intervals: dict[str, list[float]], sentences: int
) -> None:
    """Warn when the validation accuracy of the epochs differs by less than its own 95% interval's half-width:
    which epoch was kept is then chance more than merit."""
    accuracies = sorted((e["accuracy"] for e in epochs if e.get("accuracy") is not None), reverse=True)
    if len(accuracies) < 2 or "accuracy" not in intervals:
        return
    low, high = intervals["accuracy"]
    if accuracies[0] - accuracies[-1] < (high - low) / 2:
        logger.warning(
            "The validation set (%d sentences) is too small to tell the epochs apart: their accuracy spans %.3f, "
            "less than its 95%% interval's half-width (±%.3f); the epoch kept is partly chance. A larger "
            "validation_file or validation_fraction gives a surer choice.",
            sentences,
            accuracies[0] - accuracies[-1],
            (high - low) / 2,
        )


def _epoch_history(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per epoch: the evaluation metrics and the mean training loss since the last evaluation."""
    epochs, losses = [], []
    for entry in log_history:
        if "loss" in entry:
            losses.append(entry["loss"])
        if "eval_loss" in entry:
            row = {"epoch": round(entry["epoch"], 2), "step": entry["step"]}
            row["train_loss"] = sum(losses) / len(losses) if losses else None
            row.update({k.removeprefix("eval_"): v for k, v in entry.items() if k.startswith("eval_")})
            epochs.append(row)
            losses = []
    return epochs


def global_batch_size(config: TrainConfig, processes: int) -> int:
    """Sentences per optimizer step across every process (train_batch_size is each process's share)."""
    return config.train_batch_size * processes


def keep_tensorboard_runs(folder: Path, staging: Path) -> None:
    """The TensorBoard runs written in the model folder (``runs/``) go on into the folder replacing it."""
    from .tracking import RUNS_DIR

    if (folder / RUNS_DIR).is_dir():
        shutil.copytree(folder / RUNS_DIR, staging / RUNS_DIR)


def save(
    folder: ModelFolder, model: Any, tokenizer: Any, objective: Objective, scale: ScoreScale, result: TrainResult
) -> None:
    """Write the model folder: weights, tokenizer, the record, the metrics, the card and the plots. The
    calibrated temperature goes into the output layer's weights where it can (``model`` is changed)."""
    config = result.config
    calibration = result.post_fit.get("calibration")
    folded = fold_temperature(model, objective)
    if calibration and folded is not objective:
        calibration = {**calibration, "in_weights": True}
    objective = folded
    info = ModelInfo(
        labels=scale.labels,
        max_length=config.max_length,
        objective=objective.name,
        objective_params=objective.params(),
        pooling=config.pooling,
        base_model=config.model_name,
        text_column=config.text_column,
        score_column=config.score_column,
        train_file=os.path.basename(config.train_file),
        validation_file=os.path.basename(config.validation_file) if config.validation_file else None,
        train_samples=result.train_samples,
        unlabelled_samples=result.unlabelled_samples,
        validation_samples=result.validation_samples,
        train_seconds=round(result.train_seconds, 2),
        trained_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        config=config.to_dict(),
        versions=library_versions(),
        calibration=calibration,
        processes=result.processes,
        global_batch_size=global_batch_size(config, result.processes),
    )
    metrics = {
        "primary_metric": config.metric_for_best_model,
        "final": result.metrics,
        "majority_baseline": result.baseline,
        "epochs": result.epochs,
        "long_texts": result.long_texts,
        **({"ensemble_members": result.post_fit["ensemble_members"]} if "ensemble_members" in result.post_fit else {}),
    }
    with atomic.staged_folder(folder.path) as staging:  # the folder appears whole, or the old one stays
        staged = ModelFolder(staging)
        staged.write_model(model, tokenizer, info)
        if "conformal_scores" in result.post_fit:
            staged.write_conformal_scores(result.post_fit["conformal_scores"], result.post_fit["conformal_method"])
        staged.write_metrics(metrics)
        staged.write_report(staged.info(), metrics)
        keep_tensorboard_runs(folder.path, staging)
    logger.debug("Saved the model to %s", folder.path)  # the CLI's summary says so; TrainResult has the path
