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
from ..data import LabelledData, seen
from ..metrics import (
    bootstrap_intervals,
    compute_metrics,
    expected_calibration_error,
    majority_baseline,
    reliability_bins,
)
from ..model.folder import RUNS_DIR, ModelFolder, ModelInfo, library_versions
from ..model.objectives import Objective
from .steps.calibration import fold_temperature
from .steps.run import HeldOut, Run

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
    test_metrics: dict[str, Any] | None = None  # the test file's metrics, scored by the saved model
    validation_also_trained_on: int = 0  # validation sentences that are training sentences too
    stage_seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # where train()'s seconds went


class Stopwatch:
    """Seconds by stage: each :meth:`lap` adds the time since the one before to the stage it names."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._last
        self._last = now


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
    epochs = kept_epoch_marked(_epoch_history(trainer.state.log_history), trainer.state.best_global_step)
    primary = trainer.args.metric_for_best_model.removeprefix("eval_")
    warn_if_epochs_are_indistinguishable(epochs, metrics["intervals"], len(held_out), primary)
    baseline = majority_baseline(train_data.label_ids, validation_data.label_ids, scale)
    return Evaluation(metrics, baseline, epochs)


def kept_epoch_marked(epochs: list[dict[str, Any]], best_step: int | None) -> list[dict[str, Any]]:
    """The epochs, the one whose model was kept marked ``"kept": True``: the best by the primary metric (the
    Trainer's ``best_global_step``), or the last when the Trainer chose none."""
    kept = best_step if any(e["step"] == best_step for e in epochs) else (epochs[-1]["step"] if epochs else None)
    return [{**e, "kept": e["step"] == kept} for e in epochs]


def kept_epoch(epochs: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((e for e in epochs if e.get("kept")), None)


def warn_if_epochs_are_indistinguishable(
    epochs: list[dict[str, Any]], intervals: dict[str, list[float]], sentences: int, primary: str = "accuracy"
) -> None:
    """Warn when the runner-up epoch's validation metric is within the kept epoch's 95% interval half-width (the
    primary metric's interval, else accuracy's): which of them was kept is then chance more than merit."""
    metric = primary if primary in intervals else "accuracy"
    kept = kept_epoch(epochs)
    others = [e[metric] for e in epochs if not e.get("kept") and e.get(metric) is not None]
    bounds = intervals.get(metric)
    if kept is None or kept.get(metric) is None or not others or not bounds or None in bounds:
        return
    half_width = (bounds[1] - bounds[0]) / 2
    runner_up = min(others, key=lambda value: abs(kept[metric] - value))
    if abs(kept[metric] - runner_up) < half_width:
        logger.warning(
            "The validation set (%d sentences) is too small to tell the epochs apart: the kept epoch (%g) has "
            "%s %.3f, and another %.3f, within its 95%% interval's half-width (±%.3f); the epoch kept is partly "
            "chance. A larger validation_file or validation_fraction gives a surer choice.",
            sentences,
            kept["epoch"],
            metric,
            kept[metric],
            runner_up,
            half_width,
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


def test_evaluation(model_dir: Path, test_data: LabelledData, config: TrainConfig) -> dict[str, Any]:
    """The saved model's metrics on the test file, scored as ``sentscore predict --backend torch`` scores it
    (long texts in windows), with 95% bootstrap intervals and the calibration error."""
    from ..scoring.scorer import Scorer

    started = time.perf_counter()
    scale = test_data.scale
    probs = Scorer.load(model_dir, backend="torch", batch_size=config.eval_batch_size).predict_proba(test_data.texts)
    predicted = probs.argmax(axis=1)
    metrics = compute_metrics(test_data.label_ids, predicted.tolist(), scale)
    metrics["ece"] = expected_calibration_error(probs, test_data.label_ids)
    metrics["intervals"] = bootstrap_intervals(test_data.label_ids, predicted, scale)
    metrics["file"] = os.path.basename(str(config.test_file))
    # what of it the saved model trained or validated on (refitted, it trained on the validation sentences too)
    metrics["held_out"] = seen.overlap(test_data.texts, ModelFolder(model_dir).info().seen)
    logger.debug("Scored the test file in %.1f s", time.perf_counter() - started)
    return metrics


def keep_tensorboard_runs(folder: Path, staging: Path) -> None:
    """The TensorBoard runs written in the model folder (``runs/``) go on into the folder replacing it."""
    if (folder / RUNS_DIR).is_dir():
        shutil.copytree(folder / RUNS_DIR, staging / RUNS_DIR)


def save(folder: ModelFolder, run: Run, result: TrainResult) -> None:
    """Write the model folder: weights, tokenizer, the record (with the fingerprints of the sentences trained and
    validated on), the metrics (the test file's too, scored by the saved model as predict scores it), the card
    and the plots. The calibrated temperature goes into the output layer's weights where it can (the model is
    changed)."""
    model, tokenizer, objective, scale = run.model, run.tokenizer, run.objective, run.train_data.scale
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
        test_file=os.path.basename(config.test_file) if config.test_file else None,
        test_samples=len(run.test_data) if run.test_data is not None else None,
        # refitted, the model trained on the validation sentences too
        seen=seen.record(
            [*run.train_data.texts, *(run.validation_data.texts if run.config.refit else [])], run.validation_data.texts
        ),
    )
    metrics = {
        "primary_metric": config.metric_for_best_model,
        "final": result.metrics,
        "majority_baseline": result.baseline,
        "epochs": result.epochs,
        "long_texts": result.long_texts,
        "validation_also_trained_on": result.validation_also_trained_on,
        **({"ensemble_members": result.post_fit["ensemble_members"]} if "ensemble_members" in result.post_fit else {}),
    }
    with atomic.staged_folder(folder.path) as staging:  # the folder appears whole, or the old one stays
        staged = ModelFolder(staging)
        staged.write_model(model, tokenizer, info)
        if "conformal_scores" in result.post_fit:
            staged.write_conformal_scores(result.post_fit["conformal_scores"], result.post_fit["conformal_method"])
        if run.test_data is not None:
            result.test_metrics = metrics["test"] = test_evaluation(staging, run.test_data, config)
        staged.write_metrics(metrics)
        staged.write_report(staged.info(), metrics)
        keep_tensorboard_runs(folder.path, staging)
    logger.debug("Saved the model to %s", folder.path)  # the CLI's summary says so; TrainResult has the path
