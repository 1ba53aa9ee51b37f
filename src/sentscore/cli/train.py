"""``sentscore train`` and ``sentscore tune``: a config (file and flags) in, a trained folder out; Ctrl-C and
SIGTERM stop after the step with a resumable checkpoint."""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from ..config import TrainConfig
from ..errors import SentscoreError
from .common import ENGINES, EXIT_INTERRUPTED, recipe_from
from .terminal import console, print_error, print_metrics_table

if TYPE_CHECKING:
    from ..training.recipe import TrainResult


def cmd_train(args: argparse.Namespace) -> int:
    from ..model.card import test_sentences_seen
    from ..training.recipe import TrainingInterrupted, train
    from ..training.runtime import tune_process_for_training

    config = recipe_from(args, TrainConfig.given_flags(args))
    if args.engine == "ray":
        return _train_with_ray(config, args.workers)
    if args.dry_run:
        return _dry_run(config)
    stop = stop_on_signals()  # this process is the CLI's: Ctrl-C and SIGTERM end training with a checkpoint
    start_up = _seconds_since_start()
    try:  # and its to tune, once the data is read (a library call never tunes its caller's process)
        result = train(config, show_progress=not args.quiet, stop=stop, tune_process=tune_process_for_training)
    except TrainingInterrupted as interrupted:
        return _explain_interruption(interrupted)
    if not result.is_main_process:  # under a multi-process launcher, one summary
        return 0
    also = result.validation_also_trained_on
    shared = f", {also} of them training sentences too" if also else ""
    title = f"Validation metrics ({result.validation_samples} sentences{shared})"
    print_metrics_table(result.metrics, result.baseline, title=title)
    if result.test_metrics is not None:
        test = result.test_metrics
        seen = test_sentences_seen(test)
        held = f"NOT held out: {seen} trained or validated on" if seen else "never trained or validated on"
        print_metrics_table(
            test, result.baseline, title=f"Test metrics: {test['file']} ({test['n']} sentences, {held})"
        )
    console().print(_kept_epoch_words(result))
    console().print(
        f"Trained on {result.train_samples} sentences{_and_unlabelled(result)} in {result.train_seconds:.0f} s. "
        f"Model saved to [bold]{result.output_dir}[/bold]\n"
        f'Next: sentscore predict {result.output_dir} "Your sentence here"{_scored_with(result.onnx_export)}'
    )
    print_calibration(result.post_fit.get("calibration"))
    print_tracking(result.config)
    console().print(_where_the_seconds_went(result.stage_seconds, start_up, _seconds_since_start()))
    return 0


def _seconds_since_start() -> float | None:
    """Seconds since this process started (psutil, which accelerate brings), or None where it cannot tell."""
    try:
        import psutil

        return time.time() - psutil.Process().create_time()
    except Exception:  # noqa: BLE001 - a figure for the summary, never a reason to fail
        return None


def _where_the_seconds_went(stages: dict[str, float], start_up: float | None, total: float | None) -> str:
    """``train``'s stages (and the start-up before it: imports, reading the config) as one line of seconds."""
    shown = {**({"start-up": start_up} if start_up is not None else {}), **stages}
    parts = ", ".join(
        f"{name} {seconds:.1f}" if seconds < 10 else f"{name} {seconds:.0f}" for name, seconds in shown.items()
    )
    return f"Where the {total:.0f} s went: {parts}." if total is not None else f"Seconds: {parts}."


def _kept_epoch_words(result: TrainResult) -> str:
    """Which epoch's model was kept, and by which metric."""
    from ..training.results import kept_epoch

    kept, primary = kept_epoch(result.epochs), result.config.metric_for_best_model
    if kept is None and result.config.num_train_epochs == 0:
        words = "No fine-tuning epochs: the contrastive step trained the encoder and the head was fitted on it."
        if result.config.refit:
            words += (
                f" Then both were trained again on all {result.train_samples} labelled sentences (refit): the "
                "validation figures are those of the model trained without the validation sentences."
            )
        return words
    if kept is None:
        return "No epoch was evaluated; the last model was kept."
    value = kept.get(primary)
    shown = f" ({primary} {value:.4f})" if isinstance(value, float) else ""
    return f"Kept the model of epoch {kept['epoch']:g} of {len(result.epochs)}, the best by {primary}{shown}."


def _and_unlabelled(result: TrainResult) -> str:
    return f" and {result.unlabelled_samples} unlabelled ones" if result.unlabelled_samples else ""


def print_calibration(calibration: dict[str, Any] | None) -> None:
    """Calibration as a result: the error before and after, on how many sentences, or why it was skipped."""
    if not calibration:
        return
    before, after, n = calibration["ece_before"], calibration["ece_after"], calibration["sentences"]
    if calibration["method"] == "none":
        said = f"skipped: {n} validation sentences are too few (at least {calibration['too_few_below']})"
        console().print(f"Calibration {said}; expected calibration error {before:.3f} as trained.")
        return
    console().print(
        f"Calibration: expected calibration error {before:.3f} -> {after:.3f} on the {n} validation sentences it "
        f"was fitted on (temperature {calibration['temperature']:.2f})."
    )


def _scored_with(export: dict[str, Any]) -> str:
    if "files" in export:
        return f"  (scored with {export['files'][-1]}, exported in {export['seconds']:.0f} s: no torch to start)"
    return ""


def print_tracking(config: TrainConfig) -> None:
    """Where the trackers that sentscore knows how to open show the run."""
    from ..training.tracking import MLFLOW, TENSORBOARD, trackers

    names = trackers(config)
    if TENSORBOARD in names:
        console().print(f"TensorBoard run {config.run_name}: tensorboard --logdir {shlex.quote(config.logging_dir)}")
    if MLFLOW in names:
        console().print(f"MLflow run {config.run_name}: mlflow ui (or your MLFLOW_TRACKING_URI's server)")


def _dry_run(config: TrainConfig) -> int:
    """The resolved config, the data and the expected time, printed; nothing trained or written."""
    import json

    from rich.table import Table

    from ..training.plan import dry_run
    from ..training.runtime import tune_process_for_training

    plan = dry_run(config, tune_process=tune_process_for_training)  # timed as train would run
    out = console()
    print("Resolved config (as sentscore.json will record it):")
    print(json.dumps(plan.config.to_dict(), indent=2))
    table = Table(title=f"Data: {plan.train_samples} training sentences, {plan.validation_samples} validation")
    table.add_column("level")
    table.add_column("training", justify="right")
    table.add_column("validation", justify="right")
    for level, (train_rows, validation_rows) in plan.level_counts.items():
        table.add_row(level, str(train_rows), str(validation_rows))
    out.print(table)
    long_texts = plan.long_texts
    out.print(
        f"Validation: {plan.validation_from}. Longer than max_length ({long_texts['max_length']} tokens): "
        f"{long_texts['train']} training and {long_texts['validation']} validation texts."
    )
    if plan.test_samples is not None:
        out.print(f"Test: {plan.test_samples} sentences of {plan.config.test_file}, scored once after training.")
    if plan.unlabelled_samples:
        out.print(
            f"Unlabelled: {plan.unlabelled_samples} sentences for the teacher to score first (counted in the steps "
            "below); its scoring is not in the time."
        )
    epochs, members = plan.config.num_train_epochs, plan.config.ensemble
    each = ("s" if epochs != 1 else "") + (f" for each of {members} models" if members > 1 else "")
    pairs = f"the contrastive step{'s' if plan.config.refit else ''} {_duration(plan.contrastive_seconds)}"
    if epochs == 0:  # the few-label path
        work = f"no fine-tuning epochs, {pairs} (from a few timed training steps)"
    else:
        work = (
            f"{plan.steps_per_epoch} steps and about {_duration(plan.seconds_per_epoch)} per epoch (timed on a few "
            f"steps), {epochs:g} epoch{each}" + (f", {pairs}" if plan.contrastive_seconds else "")
        )
    out.print(
        f"Expected on {plan.device}: {work}: about {_duration(plan.seconds)}. Nothing was trained; run the same "
        "command without --dry-run to train."
    )
    return 0


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _train_with_ray(config: TrainConfig, workers: int) -> int:
    from ..integrations.ray import connect, train_on_ray

    if workers < 1:
        raise SentscoreError(f"--workers must be at least 1, got {workers}")
    connect()
    metrics = train_on_ray(config, workers=workers, use_gpu=config.device == "cuda")
    shown = {k: round(v, 4) for k, v in metrics.items() if k.startswith("eval_") and isinstance(v, float)}
    console().print(
        f"Trained with Ray Train on {workers} workers; last epoch: {shown}. "
        f"Model saved to [bold]{config.output_dir}[/bold]"
    )
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from ..integrations.tuning import require_optuna, tune
    from ..training.recipe import TrainingInterrupted, train
    from ..training.runtime import tune_process_for_training

    optuna = require_optuna()
    config = recipe_from(args, TrainConfig.given_flags(args))
    tune_process_for_training(config)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial comes from sentscore instead
    logging.getLogger("sentscore.integrations.tuning").setLevel(logging.INFO)
    stop = stop_on_signals()
    timeout_s = parse_duration(args.timeout)
    result = tune(config, args.study_dir, args.trials, timeout_s, args.params, args.sampler_seed, stop)
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.best_params.items())
    if result.kept_as_given:
        params = "the config as given (better trials were within the validation set's noise)"
    params = params or "the config as given (no trial did better)"
    console().print(
        f"{result.trials_done} trials finished, {result.trials_pruned} stopped early. Best validation "
        f"{config.metric_for_best_model}: {result.best_value:.4f} with {params}\n"
        f"Wrote {result.best_config}, {result.study_dir / 'trials.csv'} and {result.study_dir / 'trials.png'}; "
        f"running the same command again continues the study."
    )
    if not args.train_best:
        console().print(f"Next: sentscore train --config {result.best_config}")
        return 0
    best = TrainConfig.from_file(result.best_config, {"overwrite": config.overwrite})
    try:
        trained = train(best, show_progress=not args.quiet, stop=stop)
    except TrainingInterrupted as interrupted:
        return _explain_interruption(interrupted)
    console().print(f"Trained the best configuration into [bold]{trained.output_dir}[/bold]")
    return 0


def parse_duration(text: str | None) -> float | None:
    """Seconds in "90", "90s", "30m" or "2h"; None stays None."""
    if text is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], units[text[-1]]) if text and text[-1] in units else (text, 1)
    try:
        seconds = float(number) * unit
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise SentscoreError(f"--timeout {text!r} is not a duration", hint="Write e.g. 90s, 30m or 2h.")
    return seconds


def stop_on_signals() -> threading.Event:
    """An event set by the first Ctrl-C or SIGTERM (training then stops after its step, writing a checkpoint);
    a second Ctrl-C interrupts at once."""
    stop = threading.Event()

    def ask_to_stop(signum: int, frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        print("\nStopping after this step and writing a checkpoint (Ctrl-C again to quit now)", file=sys.stderr)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, ask_to_stop)
    return stop


def _explain_interruption(interrupted: Any) -> int:
    command = " ".join(shlex.quote(a) for a in ["sentscore", *sys.argv[1:]] if a != "--resume")
    if interrupted.checkpoint is None:  # the few-label path has no epochs to checkpoint
        print_error(
            "Training was interrupted before its first checkpoint; nothing was written.", f"Start again: {command}"
        )
        return EXIT_INTERRUPTED
    print_error(
        f"Training was interrupted; its checkpoint {interrupted.checkpoint} is kept.",
        f"Continue where it stopped with: {command} --resume",
    )
    return EXIT_INTERRUPTED


def add_train_parser(commands: Any, common: argparse.ArgumentParser, config_file: tuple[Any, str] = (None, "")) -> None:
    train = commands.add_parser(
        "train",
        parents=[common],
        help="Fine-tune a model on a labelled file.",
        description="Fine-tune a model. Every config key can also be given as a flag, which wins over the config file.",
    )
    train.add_argument("--config", help="JSON or YAML config (the recipe's config.json works unchanged).")
    train.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local (this process; under torchrun, each of its processes) or ray (Ray Train on the cluster of "
        "RAY_ADDRESS, else a local one).",
    )
    train.add_argument(
        "--workers",
        type=int,
        default=2,
        help="With --engine ray: training processes (default 2; GPUs with --device cuda).",
    )
    train.add_argument(
        "--dry-run",
        action="store_true",
        help="Read and check the data and config, print the resolved config, the data and the time an epoch "
        "takes here (a few steps timed), and stop without training.",
    )
    TrainConfig.add_flags(train, "training options (config keys)", *config_file)
    train.set_defaults(handler=cmd_train)


def add_tune_parser(commands: Any, common: argparse.ArgumentParser, config_file: tuple[Any, str] = (None, "")) -> None:
    from ..integrations.tuning import SEARCH_SPACE

    tune = commands.add_parser(
        "tune",
        parents=[common],
        help="Search hyperparameters with Optuna and write the best config.",
        description="Train trials of the config with searched hyperparameters (TPE sampler, hopeless trials "
        "stopped early), within a number of trials and a time; the study is kept in --study-dir, so running "
        "the same command again continues it.",
    )
    tune.add_argument("--config", help="The config to start from (its values are kept for keys not searched).")
    tune.add_argument(
        "--study-dir", default="tuning", help="Where the study, best_config.json and the table go (default: tuning)."
    )
    tune.add_argument("--trials", type=int, default=20, help="Finished trials the study should hold (default 20).")
    tune.add_argument(
        "--timeout",
        help="Stop searching after this long (e.g. 30m, 2h); the running trial ends (default: no limit, --trials "
        "alone ends it).",
    )
    tune.add_argument(
        "--params", nargs="+", choices=list(SEARCH_SPACE), help="Config keys to search (default: all of them)."
    )
    tune.add_argument("--sampler-seed", type=int, default=0, help="Seed of the TPE sampler (default 0).")
    tune.add_argument("--train-best", action="store_true", help="Then train the best config into output_dir.")
    TrainConfig.add_flags(
        tune, "training options (config keys): fixed for every trial, except those --params searches", *config_file
    )
    tune.set_defaults(handler=cmd_tune)
