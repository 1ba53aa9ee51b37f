"""``train()``: fine-tuning as a recipe on the Hugging Face ``Trainer``.

read and split the data -> the steps on the data -> objective -> model -> the steps before fit -> trainer -> fit
-> the steps after fit -> final evaluation -> save. The optional steps (``steps/``) are chosen from the config in
one place. Under a multi-process launcher every process runs the recipe alike; only the main process writes the
folder.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..data import LabelledData, ScoreScale
from ..errors import SentscoreError
from ..model.folder import CHECKPOINT_DIR, ModelFolder
from ..model.objectives import OBJECTIVES, Objective, balanced_class_weights
from . import steps, tracking
from .examples import count_long_texts, prepare_data, tokenized, validation_shared, with_size_defaults
from .results import Stopwatch, TrainResult, final_evaluation, global_batch_size, save
from .steps.distillation import training_loss
from .steps.run import Run

__all__ = ["TrainResult", "TrainingInterrupted", "train"]

logger = logging.getLogger(__name__)


class TrainingInterrupted(Exception):
    """Training stopped when asked (Ctrl-C, SIGTERM) after writing a resumable checkpoint."""

    def __init__(self, checkpoint: Path | None):
        super().__init__(f"training interrupted; resumable checkpoint: {checkpoint}")
        self.checkpoint = checkpoint


def train(
    config: TrainConfig,
    show_progress: bool = True,
    callbacks: list[Any] | None = None,
    stop: threading.Event | None = None,
    prepare: Callable[[Any], Any] | None = None,
    tune_process: Callable[[TrainConfig], None] | None = None,
) -> TrainResult:
    """Fine-tune ``config.model_name`` on ``config.train_file`` and write ``config.output_dir``.

    Refuses to replace a trained model already in ``output_dir`` unless ``config.overwrite``.
    ``show_progress`` shows progress bars for the epochs; ``callbacks`` are extra ``TrainerCallback``s;
    ``prepare`` is given the Trainer before it trains and returns the one to train (e.g. Ray Train's). When
    ``stop`` is set, training ends after the current step with a resumable checkpoint and raises
    :class:`TrainingInterrupted`; ``config.resume`` continues from the newest checkpoint.
    The caller's process is left as it was (torch's thread count is restored; nothing else is changed).
    The data is read and checked before torch is imported, so a bad file is refused before it loads; a program
    that owns its process may pass ``tune_process`` (as ``sentscore train`` passes
    :func:`~sentscore.training.runtime.tune_process_for_training`), called with the config at that point.
    """
    from ..model.loading import quiet_transformers
    from .runtime import torch_threads

    clock = Stopwatch()
    config, folder, run = checked(config, show_progress)
    clock.lap("data")
    if tune_process is not None:
        tune_process(config)
    on_data = steps.chosen(config).on_data
    tracker = tracking.Tracker(config)
    with torch_threads(config.num_threads), tracker.active(stopped=TrainingInterrupted):
        clock.lap("imports")  # torch and transformers' training code
        steps.run_all(on_data, run)
        clock.lap("data")
        config = with_default_objective(with_size_defaults(config, run), run.train_data.scale)
        chosen = steps.chosen(config)
        run.objective = build_objective(config, run.train_data)
        run.model, run.tokenizer, run.config = build_model(config, run.train_data.scale, run.objective)
        long_texts = count_long_texts(
            run.tokenizer, run.train_data, run.validation_data, run.config.max_length, run.config.train_long_texts
        )
        steps.run_all(chosen.before_fit, run)
        clock.lap("model")

        def trained(each: Run, extra: list[Any]) -> Any:
            trainer = build_trainer(each, show_progress, [*(callbacks or []), *extra], prepare)
            fit(trainer, each.config, ModelFolder(each.config.output_dir), stop, run.resumed_before_fit)
            return trainer

        with quiet_transformers():  # the epoch bars stay; those for writing and reading checkpoints go
            started = time.perf_counter()
            run.trainer = trained(run, tracker.callbacks())
            fit_seconds = time.perf_counter() - started
            clock.lap("fitting")
            run.train_another = lambda member: trained(another_member(run, member, chosen.before_fit), [])
            run.train_again = lambda data: trained_again(run, data, chosen.before_fit, stop)
            steps.run_all(chosen.after_fit, run)
            clock.lap("after fitting")
            result = finished(run, folder, fit_seconds, long_texts, tracker, clock)
    return result


def checked(config: TrainConfig, show_progress: bool) -> tuple[TrainConfig, ModelFolder, Run]:
    """``config`` checked, with its run names resolved; its output folder, checked to be writable; the run with
    its data read and checked (a test file too). Nothing here imports torch."""
    config.validate()  # a TrainConfig built in Python has not been checked yet
    tracking.check_installed(config)
    config = tracking.with_resolved_run(config)
    folder = ModelFolder(config.output_dir)
    # Every process checks (a read), so that under a launcher all of them stop alike instead of some waiting.
    folder.check_can_write(config.overwrite)
    data, validation, test = prepare_data(config)  # a bad test file stops it before training too
    run = Run(config, data, validation, show_progress=show_progress)
    run.test_data = test
    return config, folder, run


def another_member(run: Run, member: int, before_fit: list[steps.Step]) -> Run:
    """A further model like ``run``'s with the seed ``seed + member`` (its own head, dropout and data order; the
    same split), set up to fit: its checkpoints in a folder of its own inside the first one's; the trackers log
    the first one only."""
    place = Path(run.config.output_dir) / CHECKPOINT_DIR / f"member-{member + 1}"
    config = dataclasses.replace(run.config, seed=run.config.seed + member, output_dir=str(place), report_to=["none"])
    logger.info("Ensemble member %d of %d (seed %d)", member + 1, run.config.ensemble, config.seed)
    model, _, config = build_model(config, run.train_data.scale, run.objective)
    each = Run(config, run.train_data, run.validation_data, run.objective, model, run.tokenizer)
    each.unlabelled = run.unlabelled
    steps.run_all(before_fit, each)
    return each


def trained_again(
    run: Run, data: LabelledData, before_fit: list[steps.Step], stop: threading.Event | None = None
) -> Any:
    """A new model of ``run``'s config (the same seed) made by the steps before fitting on ``data`` (refit: no
    fine-tuning epochs follow them); :class:`TrainingInterrupted` when ``stop`` is set by then."""
    model, _, config = build_model(run.config, run.train_data.scale, run.objective)
    again = Run(config, data, run.validation_data, run.objective, model, run.tokenizer)
    steps.run_all(before_fit, again)
    if stop is not None and stop.is_set():
        raise TrainingInterrupted(None)
    return again.model


def finished(
    run: Run,
    folder: ModelFolder,
    fit_seconds: float,
    long_texts: dict[str, int],
    tracker: tracking.Tracker,
    clock: Stopwatch,
) -> TrainResult:
    """The kept model evaluated as saved, logged to the trackers, and the folder written (by the main process);
    ``clock``'s stages, with this one's, become the result's ``stage_seconds``."""
    evaluation = final_evaluation(run.held_out, run.trainer, run.train_data, run.validation_data, run.objective)
    result = TrainResult(
        folder.path,
        evaluation.metrics,
        evaluation.baseline,
        evaluation.epochs,
        fit_seconds + run.seconds,
        len(run.train_data) + (len(run.validation_data) if run.config.refit else 0),
        len(run.validation_data),
        run.config,
        run.trainer.is_world_process_zero(),
        run.recorded,
        run.trainer.args.world_size,
        long_texts,
        unlabelled_samples=len(run.unlabelled) if run.unlabelled else None,
        validation_also_trained_on=validation_shared(run.train_data, run.validation_data),
    )
    tracker.log_result(result)
    clock.lap("evaluation")
    if result.is_main_process:
        save(folder, run, result)
        clock.lap("saving")
        release_training_state(run)
        result.onnx_export = export_for_scoring(folder, run.config.onnx_export)
        clock.lap("export")
        tracker.log_folder(folder.path)
    result.stage_seconds = clock.seconds
    return result


def release_training_state(run: Run) -> None:
    """Let go of what fitting held (the model, the Trainer with its optimizer state and data loaders, and the
    closures that train more models like it) once the folder is saved, and hand the freed memory back: the
    export reads the saved folder, and its peak would otherwise stack on training's."""
    from .callbacks import ReleaseFreedMemory

    run.model = run.trainer = run.train_another = run.train_again = None
    ReleaseFreedMemory().release()


def export_for_scoring(folder: ModelFolder, export: str) -> dict[str, Any]:
    """The saved model exported to ONNX as ``export`` says, so that scoring starts without torch; the seconds it
    took and the files it wrote. A failed export leaves the trained folder as it is, with a warning."""
    from ..scoring.export import export_onnx

    if export == "none":
        return {}
    started = time.perf_counter()
    try:
        exported = export_onnx(folder.path, quantize=export if export == "int8" else None)
    except Exception as error:  # noqa: BLE001 - the trained model is saved: keep it, say what failed
        logger.warning("The model is saved, but its ONNX export failed (%s); predict uses PyTorch", error)
        return {"error": str(error)}
    files = [path.name for path in (exported.path, exported.int8_path) if path is not None]
    return {"files": files, "seconds": round(time.perf_counter() - started, 2)}


# ---- the recipe's own steps ---------------------------------------------------------------------------


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

    from ..model.loading import default_pooling, load_for_training, pick_device
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
        objective,
        config.pooling,
        config.allow_pickle,
        config.max_length,
    )
    if config.learning_rate is None:
        config = dataclasses.replace(config, learning_rate=default_learning_rate(model))
        logger.info("Learning rate %g (the default for a hidden size of %s)", config.learning_rate, hidden_size(model))
    config = with_resolved_precision(config, device)
    return model, tokenizer, with_resolved_model_settings(freeze_as_configured(model, config), model)


def with_resolved_model_settings(config: TrainConfig, model: Any) -> TrainConfig:
    """``config`` with the dropout the model trains with and the threads torch uses, so that the config saved
    beside the model has no null standing for a default."""
    import torch

    from ..model.loading import HIDDEN_DROPOUT_KEYS

    own = next((getattr(model.config, key) for key in HIDDEN_DROPOUT_KEYS if hasattr(model.config, key)), None)
    dropout = config.dropout if config.dropout is not None else own
    return dataclasses.replace(config, dropout=dropout, num_threads=config.num_threads or torch.get_num_threads())


def build_trainer(
    run: Run,
    show_progress: bool,
    extra_callbacks: list[Any] | None = None,
    prepare: Callable[[Any], Any] | None = None,
) -> Any:
    """The Trainer of ``run``'s model over its tokenized data, with sentscore's callbacks (and
    ``extra_callbacks``) and the objective's loss and metrics, handed to ``prepare`` (e.g. Ray Train's) when
    one is given."""
    from transformers import DataCollatorWithPadding

    from ..model.loading import pick_device
    from .trainer import SentscoreTrainer, trainer_metrics, training_arguments

    config, device = run.config, pick_device(run.config.device)
    train_set, eval_set = tokenized(run)
    logger.info(
        "Training %s on %d sentences, validating on %d (%d levels: %s), device %s",
        config.model_name,
        len(train_set),
        len(eval_set),
        len(run.train_data.scale),
        ", ".join(run.train_data.scale.labels),
        device,
    )
    args = training_arguments(config, Path(config.output_dir) / CHECKPOINT_DIR, device, len(train_set), show_progress)
    if args.world_size > 1:
        logger.info(
            "%d processes: a global batch of %d sentences (%d per process), learning rate %g",
            args.world_size,
            global_batch_size(config, args.world_size),
            config.train_batch_size,
            config.learning_rate,
        )
    trainer = SentscoreTrainer(
        model=run.model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=run.tokenizer,
        data_collator=DataCollatorWithPadding(run.tokenizer),
        compute_metrics=trainer_metrics(run.train_data.scale, run.objective),
        compute_loss_func=training_loss(run),
    )
    with_callbacks(trainer, config, show_progress, extra_callbacks)
    return trainer if prepare is None else prepare(trainer)


def with_callbacks(trainer: Any, config: TrainConfig, show_progress: bool, extra: list[Any] | None) -> None:
    """sentscore's callbacks in place of the Trainer's printing ones, then ``extra``."""
    from transformers import EarlyStoppingCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from .callbacks import EpochLogger, GpuMemoryLogger, ProgressBars, ReleaseFreedMemory

    for noisy in (ProgressCallback, PrinterCallback):
        trainer.remove_callback(noisy)
    callbacks = [GpuMemoryLogger(), ReleaseFreedMemory(), EpochLogger(config.metric_for_best_model)]
    if config.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    if show_progress:
        callbacks.append(ProgressBars())
    for callback in [*callbacks, *(extra or [])]:
        trainer.add_callback(callback)


def fit(
    trainer: Any,
    config: TrainConfig,
    folder: ModelFolder,
    stop: threading.Event | None = None,
    resumed_before_fit: bool = False,
) -> float:
    """Train (from the newest checkpoint with ``config.resume``), keeping the best epoch; returns the seconds it
    took. A resumable checkpoint is written every
    ``checkpoint_minutes``; when ``stop`` is set, one is written and :class:`TrainingInterrupted` raised.
    ``resumed_before_fit``: the resumed run was interrupted before this model's first checkpoint."""
    from .callbacks import PeriodicCheckpoint, StopWhenAsked

    resume_from = resume_point(config, folder, resumed_before_fit)
    trainer.add_callback(PeriodicCheckpoint(config.checkpoint_minutes))
    asked = StopWhenAsked(stop or threading.Event())
    trainer.add_callback(asked)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    asked_before_fit = config.num_train_epochs == 0 and asked.event.is_set()  # no epoch to stop in: asked before
    if asked.stopped_at is not None or asked_before_fit:
        raise TrainingInterrupted(folder.latest_checkpoint())
    return time.perf_counter() - started


def resume_point(config: TrainConfig, folder: ModelFolder, resumed_before_fit: bool = False) -> Path | None:
    """The checkpoint to continue from: the newest one with ``resume``; an error when there is none, unless the
    steps before fitting resumed their own work (the run was interrupted before its first checkpoint)."""
    latest = folder.latest_checkpoint()
    if config.resume and latest is None and resumed_before_fit:
        logger.info("Resuming: no checkpoint of the model yet, so it trains from its first step")
        return None
    if config.resume and latest is None:
        raise SentscoreError(
            f"nothing to resume: {folder.file(CHECKPOINT_DIR)} holds no complete checkpoint",
            hint="Train without --resume to start over.",
        )
    if latest is not None and not config.resume:
        logger.warning("%s holds checkpoints of an interrupted run; starting over (--resume continues it)", folder.path)
    return latest if config.resume else None
