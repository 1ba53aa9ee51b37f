"""``train()``: fine-tuning as a recipe of named steps on the Hugging Face ``Trainer``.

load and check data -> objective -> model -> trainer -> fit -> final evaluation -> post-fit steps -> save.
Under a multi-process launcher every process runs the steps alike; only the main process writes the folder.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import atomic
from .averaging import average_checkpoints
from .backends import SPECIAL_TOKENS, window_overlap
from .calibration import HeldOut, fold_temperature, held_out_predictions, post_fit_steps
from .config import TrainConfig
from .data import LabelledData, ScoreScale, load_labelled, split
from .distillation import DistillationLoss, labels_with_teacher, with_teacher
from .errors import SentscoreError
from .headinit import initialise_head_from_probe
from .metrics import (
    bootstrap_intervals,
    compute_metrics,
    expected_calibration_error,
    majority_baseline,
    reliability_bins,
)
from .modelfolder import CHECKPOINT_DIR, ModelFolder, ModelInfo, library_versions
from .objectives import OBJECTIVES, Objective, balanced_class_weights

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


class TrainingInterrupted(Exception):
    """Training stopped when asked (Ctrl-C, SIGTERM) after writing a resumable checkpoint."""

    def __init__(self, checkpoint: Path | None):
        super().__init__(f"training interrupted; resumable checkpoint: {checkpoint}")
        self.checkpoint = checkpoint


@dataclass
class Evaluation:
    """The kept model's validation metrics, the majority-class baseline and the per-epoch history."""

    metrics: dict[str, Any]
    baseline: dict[str, Any]
    epochs: list[dict[str, Any]]


def train(
    config: TrainConfig,
    show_progress: bool = True,
    callbacks: list[Any] | None = None,
    stop: threading.Event | None = None,
    prepare: Callable[[Any], Any] | None = None,
) -> TrainResult:
    """Fine-tune ``config.model_name`` on ``config.train_file`` and write ``config.output_dir``.

    Refuses to replace a trained model already in ``output_dir`` unless ``config.overwrite``.
    ``show_progress`` shows progress bars for the epochs; ``callbacks`` are extra ``TrainerCallback``s;
    ``prepare`` is given the Trainer before it trains and returns the one to train (e.g. Ray Train's). When
    ``stop`` is set, training ends after the current step with a resumable checkpoint and raises
    :class:`TrainingInterrupted`; ``config.resume`` continues from the newest checkpoint.
    The caller's process is left as it was (torch's thread count is restored; nothing else is changed).
    """
    from .models import quiet_transformers
    from .runtime import torch_threads

    config.validate()  # a TrainConfig built in Python has not been checked yet
    folder = ModelFolder(config.output_dir)
    # Every process checks (a read), so that under a launcher all of them stop alike instead of some waiting.
    folder.check_can_write(config.overwrite)
    with torch_threads(config.num_threads):
        train_data, validation_data = prepare_data(config)
        started = time.perf_counter()
        if config.teacher is not None:
            train_data = with_teacher(train_data, config.teacher)
        teacher_seconds = time.perf_counter() - started
        config = with_default_objective(with_default_epochs(config, len(train_data)), train_data.scale)
        objective = build_objective(config, train_data)
        model, tokenizer, config = build_model(config, train_data.scale, objective)
        long_texts = count_long_texts(
            tokenizer, train_data, validation_data, config.max_length, config.train_long_texts
        )
        prepared_seconds = before_fine_tuning(model, tokenizer, train_data, objective, config)
        trainer = build_trainer(
            config, model, tokenizer, train_data, validation_data, objective, show_progress, callbacks, prepare
        )
        with quiet_transformers():  # the epoch bars stay; those for writing and reading checkpoints go
            train_seconds = teacher_seconds + prepared_seconds + fit(trainer, config, folder, stop)
            post_fit: dict[str, Any] = {}
            model, held_out = trainer.model, None
            if config.ensemble > 1:
                members = EnsembleMembers(
                    config, tokenizer, train_data, validation_data, objective, show_progress, callbacks, prepare
                )
                if config.ensemble_average == "weights":
                    members.average_weights_into(trainer, stop)
                else:
                    model, objective, held_out = members.average_probabilities(trainer, stop)
                train_seconds += members.seconds
                post_fit["ensemble_members"] = members.validation
            if held_out is None:
                held_out = held_out_predictions(trainer)
            for step in post_fit_steps(config.calibrate):
                post_fit.update(step(held_out, objective))
            evaluation = final_evaluation(held_out, trainer, train_data, validation_data, objective)
            result = TrainResult(
                folder.path,
                evaluation.metrics,
                evaluation.baseline,
                evaluation.epochs,
                train_seconds,
                len(train_data),
                len(validation_data),
                config,
                trainer.is_world_process_zero(),
                post_fit,
                trainer.args.world_size,
                long_texts,
            )
            if result.is_main_process:
                save(folder, model, tokenizer, objective, train_data.scale, result)
    return result


# ---- the steps -------------------------------------------------------------------------------------------


def prepare_data(config: TrainConfig) -> tuple[LabelledData, LabelledData]:
    """Load the training file and a validation set (a file, or a stratified split), checked together."""
    data = load_labelled(config.train_file, config.text_column, config.score_column, config.num_labels, config.labels)
    if config.validation_file:
        validation = load_labelled(config.validation_file, config.text_column, config.score_column, scale=data.scale)
    else:
        data, validation = split(data, config.validation_fraction, config.seed)
    _warn_missing_levels(data)
    if not data.scale.is_numeric and config.metric_for_best_model not in ("accuracy", "macro_f1", "loss"):
        raise SentscoreError(
            f"metric_for_best_model '{config.metric_for_best_model}' needs numeric scores, but the labels are "
            f"text ({', '.join(data.scale.labels)})",
            hint="Use accuracy, macro_f1 or loss, or give numeric scores.",
        )
    return data, validation


#: Optimizer steps a default training makes at least, and the most epochs it takes for them.
MIN_DEFAULT_STEPS = 300
MAX_DEFAULT_EPOCHS = 30


def default_epochs(train_sentences: int, batch_size: int) -> int:
    """3 epochs, or as many as make MIN_DEFAULT_STEPS optimizer steps when the training set is small (at most
    MAX_DEFAULT_EPOCHS): a few hundred sentences in 3 epochs are a few dozen steps, too few for the head."""
    steps_per_epoch = max(1, -(-train_sentences // batch_size))
    return min(MAX_DEFAULT_EPOCHS, max(3, -(-MIN_DEFAULT_STEPS // steps_per_epoch)))


def with_default_epochs(config: TrainConfig, train_sentences: int) -> TrainConfig:
    """``config`` with ``num_train_epochs`` decided by the training set's size when it is not set."""
    if config.num_train_epochs is not None:
        return config
    epochs = default_epochs(train_sentences, config.train_batch_size)
    if epochs > 3:
        logger.info("%d epochs: a small training set needs them for %d steps", epochs, MIN_DEFAULT_STEPS)
    return dataclasses.replace(config, num_train_epochs=epochs)


#: The objective for ordered levels unless the config names one: cross-entropy plus the ordinal log loss,
#: which in bench.quality kept cross-entropy's accuracy within seed noise and scored better QWK (docs/decisions.md).
DEFAULT_ORDERED_OBJECTIVE = "ordinal_log_loss"


def with_default_objective(config: TrainConfig, scale: ScoreScale) -> TrainConfig:
    """``config`` with ``objective`` decided by the levels when it is not set: the distance-aware objective for
    ordered levels (numbers, or labels in a given order), classification for text labels in no given order."""
    if config.objective is not None:
        return config
    ordered = scale.is_numeric or config.labels is not None
    return dataclasses.replace(config, objective=DEFAULT_ORDERED_OBJECTIVE if ordered else "classification")


def build_objective(config: TrainConfig, train_data: LabelledData) -> Objective:
    """The objective the head is trained with; class weights come from the training data."""
    kind, scale = OBJECTIVES[config.objective], train_data.scale
    if kind.needs_order and not scale.is_numeric and config.labels is None:
        raise SentscoreError(
            f"objective '{config.objective}' uses the order of the levels, but the labels are text "
            f"({', '.join(scale.labels)}) in no given order",
            hint="Give their order with labels: [...] (lowest first), or use objective classification.",
        )
    if not config.class_weights:
        return kind(len(scale))
    weights = balanced_class_weights(train_data.label_ids, len(scale))
    logger.info("Class weights: %s", dict(zip(scale.labels, [round(w, 3) for w in weights], strict=True)))
    return kind(len(scale), class_weights=weights)


def build_model(config: TrainConfig, scale: ScoreScale, objective: Objective) -> tuple[Any, Any, TrainConfig]:
    """Model and tokenizer set up to train (seeded head, fixed weights), and ``config`` with the defaults that
    depend on the model and the machine (learning rate, precision) resolved."""
    from transformers import set_seed

    from .models import default_pooling, load_for_training, pick_device
    from .runtime import with_resolved_precision
    from .surgery import default_learning_rate, freeze_as_configured, hidden_size

    set_seed(config.seed)
    device = pick_device(config.device)
    if config.pooling is None:
        config = dataclasses.replace(config, pooling=default_pooling(config.model_name))
    tokenizer, model = load_for_training(
        config.model_name,
        scale,
        config.dropout,
        config.attention_dropout,
        objective,
        config.pooling,
        config.allow_pickle,
    )
    if config.learning_rate is None:
        config = dataclasses.replace(config, learning_rate=default_learning_rate(model))
        logger.info("Learning rate %g (the default for a hidden size of %s)", config.learning_rate, hidden_size(model))
    config = with_resolved_precision(config, device)
    freeze_as_configured(model, config)
    return model, tokenizer, config


def before_fine_tuning(
    model: Any, tokenizer: Any, train_data: LabelledData, objective: Objective, config: TrainConfig
) -> float:
    """The steps that change the model before the Trainer fine-tunes it: the contrastive step on sentence
    pairs (``contrastive_pairs``), then the linear-probe head (``head_init``), fitted to the encoder's features
    as they are after it. Returns the seconds they took."""
    started = time.perf_counter()
    if config.contrastive_pairs:
        from .contrastive import contrastive_step
        from .models import pick_device

        seconds = contrastive_step(model, tokenizer, train_data, config, pick_device(config.device))
        logger.info("Contrastive step took %.0f s", seconds)
    if config.head_init == "linear_probe":
        initialise_head_from_probe(model, tokenizer, train_data, objective, config.max_length)
    return time.perf_counter() - started


def build_trainer(
    config: TrainConfig,
    model: Any,
    tokenizer: Any,
    train_data: LabelledData,
    validation_data: LabelledData,
    objective: Objective,
    show_progress: bool,
    extra_callbacks: list[Any] | None = None,
    prepare: Callable[[Any], Any] | None = None,
) -> Any:
    """The Trainer over the tokenized data, with sentscore's callbacks (and ``extra_callbacks``) and the
    objective's loss and metrics, handed to ``prepare`` (e.g. Ray Train's) when one is given."""
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from .callbacks import EpochLogger, GpuMemoryLogger, ProgressBars, ReleaseFreedMemory
    from .models import pick_device
    from .trainer import SentscoreTrainer, trainer_metrics, training_arguments

    device = pick_device(config.device)
    train_set = tokenize(train_data, tokenizer, config.max_length, config.train_long_texts)
    # one example per text, so that the validation metrics count texts: windows validate on the first one
    validation_reading = "truncate" if config.train_long_texts == "windows" else config.train_long_texts
    eval_set = tokenize(validation_data, tokenizer, config.max_length, validation_reading)
    logger.info(
        "Training %s on %d sentences, validating on %d (%d levels: %s), device %s",
        config.model_name,
        len(train_set),
        len(eval_set),
        len(train_data.scale),
        ", ".join(train_data.scale.labels),
        device,
    )
    checkpoints = Path(config.output_dir) / CHECKPOINT_DIR
    args = training_arguments(config, checkpoints, device, len(train_set), show_progress)
    if args.world_size > 1:
        logger.info(
            "%d processes: a global batch of %d sentences (%d per process), learning rate %g",
            args.world_size,
            global_batch_size(config, args.world_size),
            config.train_batch_size,
            config.learning_rate,
        )
    callbacks = [GpuMemoryLogger(), ReleaseFreedMemory(), EpochLogger(config.metric_for_best_model)]
    if config.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    trainer = SentscoreTrainer(
        head_learning_rate=config.head_learning_rate,
        layer_lr_decay=config.layer_lr_decay,
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=trainer_metrics(train_data.scale, objective),
        compute_loss_func=objective.loss
        if train_data.teacher_probs is None
        else DistillationLoss(objective, config.teacher_weight),
        callbacks=callbacks,
    )
    for noisy in (ProgressCallback, PrinterCallback):
        trainer.remove_callback(noisy)
    if show_progress:
        trainer.add_callback(ProgressBars())
    for callback in extra_callbacks or []:
        trainer.add_callback(callback)
    return trainer if prepare is None else prepare(trainer)


def global_batch_size(config: TrainConfig, processes: int) -> int:
    """Sentences per optimizer step across every process (train_batch_size is each process's share)."""
    return config.train_batch_size * processes


#: What training does with a text longer than max_length, by ``train_long_texts``, in the warning's words.
LONG_TEXT_READINGS = {
    "truncate": "cut there for training",
    "head_tail": "cut to their start and end for training",
    "windows": "read in windows for training",
}


def count_long_texts(
    tokenizer: Any, train_data: LabelledData, validation_data: LabelledData, max_length: int, reading: str
) -> dict[str, int]:
    """How many training and validation texts are longer than ``max_length`` tokens; a warning when that is
    more than a twentieth of the training set and training cuts them (``reading`` is ``train_long_texts``)."""

    def longer(texts: list[str]) -> int:  # cut one token later, a text that was cut is one token longer
        return sum(
            len(ids) > max_length for ids in tokenizer(texts, truncation=True, max_length=max_length + 1)["input_ids"]
        )

    counts = {"max_length": max_length, "train": longer(train_data.texts), "validation": longer(validation_data.texts)}
    if counts["train"] > len(train_data) / 20:
        logger.warning(
            "%d of the %d training texts are longer than max_length (%d tokens) and are %s (scoring reads them "
            "whole, in windows); a larger max_length lets training read them whole too",
            counts["train"],
            len(train_data),
            max_length,
            LONG_TEXT_READINGS[reading],
        )
    return counts


def tokenize(data: LabelledData, tokenizer: Any, max_length: int, long_texts: str = "truncate") -> Any:
    """Tokenize once, up front, with the fast tokenizer; keep lengths for length-grouped batching. A text longer
    than ``max_length`` is cut to its start (``truncate``), to its start and end (``head_tail``), or becomes one
    example per overlapping window, each with the text's score (``windows``)."""
    from datasets import Dataset

    texts, labels = data.texts, labels_with_teacher(data)
    if long_texts == "head_tail":
        texts = head_and_tail(tokenizer, texts, max_length)
    windowed = long_texts == "windows"
    encoded = tokenizer(
        texts,
        truncation=True,
        max_length=max_length,
        stride=window_overlap(max_length) if windowed else 0,
        return_overflowing_tokens=windowed,
    )
    columns = {key: encoded[key] for key in encoded if key != "overflow_to_sample_mapping"}
    if windowed:
        labels = [labels[text] for text in encoded["overflow_to_sample_mapping"]]
    columns["labels"] = labels
    columns["length"] = [len(ids) for ids in encoded["input_ids"]]
    return Dataset.from_dict(columns)


def head_and_tail(tokenizer: Any, texts: list[str], max_length: int) -> list[str]:
    """Each text longer than ``max_length`` tokens cut to its first quarter and last three quarters of them
    (the head+tail truncation of Sun et al., 2019: a review's verdict is often at its end). The cut is made
    in the text, at token offsets, so that any tokenizer re-reads it with its own special tokens."""
    budget = max(1, max_length - SPECIAL_TOKENS)
    head = budget // 4
    offsets = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    cut = []
    for text, spans in zip(texts, offsets, strict=True):
        if len(spans) <= budget:
            cut.append(text)
            continue
        tail_start = spans[len(spans) - (budget - head)][0]
        cut.append((text[: spans[head - 1][1]] + " " if head else "") + text[tail_start:])
    return cut


def fit(trainer: Any, config: TrainConfig, folder: ModelFolder, stop: threading.Event | None = None) -> float:
    """Train (from the newest checkpoint with ``config.resume``), keeping the best epoch or averaging the
    epochs' weights (``weight_averaging``); returns the seconds it took. A resumable checkpoint is written every
    ``checkpoint_minutes``; when ``stop`` is set, one is written and :class:`TrainingInterrupted` raised."""
    from .callbacks import PeriodicCheckpoint, StopWhenAsked

    resume_from = resume_point(config, folder)
    trainer.add_callback(PeriodicCheckpoint(config.checkpoint_minutes))
    asked = StopWhenAsked(stop or threading.Event())
    trainer.add_callback(asked)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    if asked.stopped_at is not None:
        raise TrainingInterrupted(folder.latest_checkpoint())
    average_checkpoints(trainer, config.weight_averaging, config.metric_for_best_model, config.greater_is_better)
    return time.perf_counter() - started


@dataclass
class EnsembleMembers:
    """The further models of ``ensemble: N``: each trained like the first with its own seed (head, dropout and
    data order; the split stays the first one's), then made one with the first: their distributions averaged
    by one model that runs them all (N times the scoring time), or their weights averaged into the first
    trainer's model. Fine-tuned from one pre-trained start, they lie in one basin, so their weight mean is one
    model that scores almost like an ensemble (model soups, Wortsman et al. 2022) at a single model's cost."""

    config: TrainConfig
    tokenizer: Any
    train_data: LabelledData
    validation_data: LabelledData
    objective: Objective
    show_progress: bool
    callbacks: list[Any] | None = None
    prepare: Callable[[Any], Any] | None = None
    #: each model's seed and best validation metric, the first one's included
    validation: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: the seconds members 2..N took to train
    seconds: float = 0.0

    def trained(self, trainer: Any, stop: threading.Event | None) -> Iterator[Any]:
        """The first model's trainer, then each further member's once it is trained."""
        self.validation.append(self.validation_record(self.config.seed, trainer))
        yield trainer
        for member in range(1, self.config.ensemble):
            member_trainer, seconds = self.train_member(member, stop)
            self.seconds += seconds
            self.validation.append(self.validation_record(self.config.seed + member, member_trainer))
            yield member_trainer

    def average_weights_into(self, trainer: Any, stop: threading.Event | None) -> None:
        """Train members 2..N and put the mean of all N models' weights into ``trainer``'s model."""
        from .averaging import SoupOfWeights

        soup = SoupOfWeights.for_model(trainer.model)
        for each in self.trained(trainer, stop):
            soup = soup.with_added(each.model.state_dict())
        soup.load_into(trainer.model)
        logger.info(
            "Weights of %d models (seeds %d to %d) averaged into one",
            soup.count,
            self.config.seed,
            self.config.seed + soup.count - 1,
        )

    def average_probabilities(self, trainer: Any, stop: threading.Event | None) -> tuple[Any, Objective, HeldOut]:
        """Train members 2..N; the model that averages all N models' distributions, the objective that reads
        its outputs, and its outputs on the validation set."""
        from .ensembles import held_out_of, probability_ensemble
        from .objectives import AveragedProbabilities

        ensemble = probability_ensemble([each.model for each in self.trained(trainer, stop)], self.objective)
        logger.info(
            "%d models (seeds %d to %d) scored as one: their probabilities averaged",
            self.config.ensemble,
            self.config.seed,
            self.config.seed + self.config.ensemble - 1,
        )
        held_out = held_out_of(ensemble, self.tokenizer, self.validation_data, self.config.max_length)
        return ensemble, AveragedProbabilities(self.objective.num_levels), held_out

    def validation_record(self, seed: int, trainer: Any) -> dict[str, Any]:
        return {"seed": seed, self.config.metric_for_best_model: trainer.state.best_metric}

    def train_member(self, member: int, stop: threading.Event | None) -> tuple[Any, float]:
        # its checkpoints in a folder of its own inside the first model's, which goes when training ends
        place = Path(self.config.output_dir) / CHECKPOINT_DIR / f"member-{member + 1}"
        config = dataclasses.replace(self.config, seed=self.config.seed + member, output_dir=str(place))
        logger.info("Ensemble member %d of %d (seed %d)", member + 1, self.config.ensemble, config.seed)
        model, _, config = build_model(config, self.train_data.scale, self.objective)
        prepared_seconds = before_fine_tuning(model, self.tokenizer, self.train_data, self.objective, config)
        trainer = build_trainer(
            config,
            model,
            self.tokenizer,
            self.train_data,
            self.validation_data,
            self.objective,
            self.show_progress,
            self.callbacks,
            self.prepare,
        )
        return trainer, prepared_seconds + fit(trainer, config, ModelFolder(place), stop)


def resume_point(config: TrainConfig, folder: ModelFolder) -> Path | None:
    """The checkpoint to continue from: the newest one with ``resume``; an error when there is none."""
    latest = folder.latest_checkpoint()
    if config.resume and latest is None:
        raise SentscoreError(
            f"nothing to resume: {folder.file(CHECKPOINT_DIR)} holds no complete checkpoint",
            hint="Train without --resume to start over.",
        )
    if latest is not None and not config.resume:
        logger.warning("%s holds checkpoints of an interrupted run; starting over (--resume continues it)", folder.path)
    return latest if config.resume else None


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
    logger.debug("Saved the model to %s", folder.path)  # the CLI's summary says so; TrainResult has the path


# ---- helpers ---------------------------------------------------------------------------------------------


def _warn_missing_levels(data: LabelledData) -> None:
    present = set(data.label_ids)
    missing = [label for i, label in enumerate(data.scale.labels) if i not in present]
    if missing:
        logger.warning("No training rows have the score(s) %s; the model cannot learn to predict them", missing)


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
