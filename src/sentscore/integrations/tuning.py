"""Hyperparameter search with Optuna: trials of the training recipe under a TPE sampler, the hopeless ones
stopped early on their per-epoch validation metric, bounded in trials and time. The study lives in SQLite in
the study folder, so that running the same command again resumes it; the best trial's configuration is
written as a ready config.json, with a table and a plot of the trials."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import atomic
from ..config import METRIC_DIRECTIONS, TrainConfig
from ..errors import SentscoreError

logger = logging.getLogger(__name__)

STUDY_FILE = "study.db"
BEST_CONFIG_FILE = "best_config.json"
TRIALS_FILE = "trials.csv"
TRIALS_PLOT = "trials.png"
AS_GIVEN = "as_given"  # marks the trial that trains the config unchanged
HALF_WIDTH = "interval_half_width"  # half the 95% bootstrap interval of a trial's validation metric


@dataclass(frozen=True)
class Param:
    """One searched config key: floats (log scale or not) or ints between low and high, or a choice."""

    kind: str  # "float", "log", "int" or "choice"
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any, name: str) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high))
        return trial.suggest_float(name, self.low, self.high, log=self.kind == "log")


#: What `sentscore tune` searches unless told which keys (`--params`).
SEARCH_SPACE: dict[str, Param] = {
    "learning_rate": Param("log", 1e-5, 3e-4),
    "num_train_epochs": Param("int", 2, 8),
    "train_batch_size": Param("choice", choices=(8, 16, 32)),
    "warmup_ratio": Param("float", 0.0, 0.2),
    "weight_decay": Param("choice", choices=(0.0, 0.01, 0.1)),
    "objective": Param("choice", choices=("classification", "ordinal", "ordinal_log_loss")),
    "pooling": Param("choice", choices=("mean", "cls")),
}


@dataclass
class TuneResult:
    best_value: float
    best_params: dict[str, Any]
    best_config: Path
    trials_done: int
    trials_pruned: int
    study_dir: Path
    kept_as_given: bool = False  # a trial scored better, but by less than the validation set can resolve


def tune(
    config: TrainConfig,
    study_dir: str | Path,
    trials: int = 20,
    timeout_s: float | None = None,
    params: list[str] | None = None,
    seed: int = 0,
    stop: threading.Event | None = None,
) -> TuneResult:
    """Run trials of ``config`` with the ``params`` of :data:`SEARCH_SPACE` (default: all) sampled, until the
    study in ``study_dir`` holds ``trials`` finished ones or ``timeout_s`` has passed; maximise (or minimise)
    ``config.metric_for_best_model`` on the validation set. The first trial trains ``config`` as given, so
    the best configuration is never one that did worse than it on validation (its best_params are then {}).
    Trials' models are deleted; only their figures are kept. Running it again with the same ``study_dir``
    continues the study."""
    optuna = require_optuna()
    config.validate()
    searched = _searched(params)
    study_dir = Path(study_dir)
    check_study_dir(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name="sentscore",
        storage=f"sqlite:///{study_dir / STUDY_FILE}",
        load_if_exists=True,
        direction="maximize" if METRIC_DIRECTIONS[config.metric_for_best_model] else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )
    if not study.trials:  # the first trial is the config as given: the search then never recommends worse
        study.enqueue_trial({}, user_attrs={AS_GIVEN: True})
    finished = _finished(study)
    if finished < trials:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s

        def time_is_up() -> bool:  # asked to stop, or past the deadline: the running trial ends too
            return (stop is not None and stop.is_set()) or (deadline is not None and time.monotonic() >= deadline)

        with tracking_parent(config, study_dir):
            study.optimize(
                _objective(config, searched, study_dir, time_is_up),
                n_trials=trials - finished,
                timeout=timeout_s,
                catch=(),
                callbacks=[lambda study, trial: study.stop() if time_is_up() else None],
            )
        shutil.rmtree(study_dir / "trials", ignore_errors=True)  # each trial removed its own model already
    return _write_outcome(study, config, study_dir)


def check_study_dir(study_dir: Path) -> None:
    """A study's folder is new, empty, or one a study wrote (it holds its ``study.db``): the study writes its
    files there and deletes its trials' models from ``trials/``, so a folder of other things is refused."""
    if study_dir.exists() and not study_dir.is_dir():
        raise SentscoreError(f"--study-dir {study_dir} is a file", hint="Choose a folder for the study.")
    if not study_dir.is_dir() or (study_dir / STUDY_FILE).is_file():
        return
    others = sorted(p.name + "/" * p.is_dir() for p in study_dir.iterdir())
    if others:
        raise SentscoreError(
            f"--study-dir {study_dir} holds what tune did not write ({', '.join(others[:5])}"
            f"{', …' if len(others) > 5 else ''}) and no {STUDY_FILE} to continue",
            hint="Choose a new or empty folder for --study-dir, or the folder of a study to continue it.",
        )


def _searched(params: list[str] | None) -> dict[str, Param]:
    unknown = sorted(set(params or []) - set(SEARCH_SPACE))
    if unknown:
        raise SentscoreError(f"Cannot search {', '.join(unknown)}", hint=f"Search some of: {', '.join(SEARCH_SPACE)}.")
    return {name: SEARCH_SPACE[name] for name in (params or SEARCH_SPACE)}


def _objective(
    config: TrainConfig, searched: dict[str, Param], study_dir: Path, time_is_up: Callable[[], bool]
) -> Callable[[Any], float]:
    from ..training.callbacks import ReportToTrial
    from ..training.recipe import TrainingInterrupted, train

    optuna = require_optuna()

    def objective(trial: Any) -> float:
        as_given = trial.user_attrs.get(AS_GIVEN, False)
        chosen = {} if as_given else {name: param.suggest(trial, name) for name, param in searched.items()}
        folder = study_dir / "trials" / str(trial.number)
        trial_config = TrainConfig.from_dict(
            {**config.to_dict(), **chosen, **trial_tracking(config, study_dir, trial.number), "output_dir": str(folder)}
            # a trial is chosen on validation alone: the test file is scored once, by the model trained at the end
            | {"overwrite": True, "resume": False, "test_file": None},
            source=f"trial {trial.number}",
        )
        pruning = ReportToTrial(trial, config.metric_for_best_model, time_is_up)
        try:
            result = train(trial_config, show_progress=False, callbacks=[pruning], stop=pruning.stop)
        except TrainingInterrupted:
            raise optuna.TrialPruned(pruning.reason or "stopped") from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        value = _final_value(result, config.metric_for_best_model)
        low, high = result.metrics.get("intervals", {}).get(config.metric_for_best_model, (value, value))
        trial.set_user_attr(HALF_WIDTH, (high - low) / 2)
        logger.info("trial %d: %s = %.4f with %s", trial.number, config.metric_for_best_model, value, chosen)
        return value

    return objective


def trial_tracking(config: TrainConfig, study_dir: Path, number: int) -> dict[str, Any]:
    """A trial's run name (``trial-N`` after the study's run name) and its TensorBoard folder, the study's
    (``runs/`` in the study folder unless ``logging_dir`` is set), which outlives the trial's model."""
    name = f"{config.run_name}-trial-{number}" if config.run_name else f"trial-{number}"
    return {"run_name": name, "logging_dir": config.logging_dir or str(study_dir / "runs")}


@contextlib.contextmanager
def tracking_parent(config: TrainConfig, study_dir: Path) -> Iterator[None]:
    """With MLflow among the trackers, the study's run, in which each trial's run is nested."""
    from ..training.tracking import MLFLOW, check_installed, trackers

    check_installed(config)
    if MLFLOW not in trackers(config):
        yield
        return
    import mlflow

    with mlflow.start_run(run_name=config.run_name or f"tune-{study_dir.name}", nested=mlflow.active_run() is not None):
        yield


def _final_value(result: Any, metric: str) -> float:
    value = result.metrics.get(metric)
    if value is None:  # e.g. the loss, which the final metrics do not repeat: the kept epoch's
        values = [e[metric] for e in result.epochs if e.get(metric) is not None]
        value = (max if METRIC_DIRECTIONS[metric] else min)(values)
    return float(value)


def _finished(study: Any) -> int:
    from optuna.trial import TrialState

    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)


def _write_outcome(study: Any, config: TrainConfig, study_dir: Path) -> TuneResult:
    from optuna.trial import TrialState

    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    if not complete:
        raise SentscoreError(
            f"No trial of the study in {study_dir} finished",
            hint="Give the search more time (--timeout) or more trials; pruned trials do not count.",
        )
    best = surely_better_or_as_given(study, complete)
    best_config = {**config.to_dict(), **best.params}
    path = study_dir / BEST_CONFIG_FILE
    atomic.write_text(path, json.dumps(best_config, indent=2) + "\n")
    frame = study.trials_dataframe(attrs=("number", "value", "state", "duration", "params", "user_attrs"))
    atomic.write_text(study_dir / TRIALS_FILE, frame.to_csv(index=False))
    figure = trials_figure(study.trials, config.metric_for_best_model, METRIC_DIRECTIONS[config.metric_for_best_model])
    with atomic.replacing(study_dir / TRIALS_PLOT) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    pruned = sum(t.state == TrialState.PRUNED for t in study.trials)
    kept = bool(best.user_attrs.get(AS_GIVEN)) and study.best_trial.number != best.number
    return TuneResult(float(best.value), dict(best.params), path, len(complete), pruned, study_dir, kept)


def surely_better_or_as_given(study: Any, complete: list[Any]) -> Any:
    """The best trial, unless it beats the config as given by less than half the 95% interval of its
    validation metric: a difference the validation set cannot tell from noise keeps the config as given."""
    best = study.best_trial
    given = next((t for t in complete if t.user_attrs.get(AS_GIVEN)), None)
    if given is None or best.number == given.number:
        return best
    margin = abs(best.value - given.value)
    half_width = best.user_attrs.get(HALF_WIDTH, 0.0)
    if margin > half_width:
        return best
    logger.warning(
        "Trial %d beat the config as given by %.4f, less than its validation set can resolve (±%.4f): "
        "keeping the config as given. A larger validation_file tells configurations apart.",
        best.number,
        margin,
        half_width,
    )
    return given


def trials_figure(trials: list[Any], metric: str, greater_is_better: bool) -> Any:
    """Each finished trial's validation metric and the best so far; pruned trials at their last report."""
    from matplotlib.figure import Figure
    from optuna.trial import TrialState

    figure = Figure(figsize=(6.4, 3.6))
    axes = figure.add_subplot()
    done = [(t.number, t.value) for t in trials if t.state == TrialState.COMPLETE]
    pruned = [
        (t.number, t.intermediate_values[max(t.intermediate_values)])
        for t in trials
        if t.state == TrialState.PRUNED and t.intermediate_values
    ]
    if done:
        axes.scatter(*zip(*done, strict=True), label="finished", color="#3558d6")
        best, running = [], None
        for _, value in done:
            running = value if running is None else (max if greater_is_better else min)(running, value)
            best.append(running)
        axes.step([n for n, _ in done], best, where="post", label="best so far", color="#12b76a")
    if pruned:
        axes.scatter(*zip(*pruned, strict=True), label="pruned (last epoch reported)", color="#98a2b3", marker="x")
    axes.set_xlabel("trial")
    axes.set_ylabel(f"validation {metric}")
    axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    return figure


def require_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise SentscoreError(
            "sentscore tune needs Optuna, which is not installed",
            hint="pip install 'sentscore[tune]' (or pip install optuna).",
        ) from None
    return optuna
