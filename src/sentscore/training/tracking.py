"""Runs tracked through the Trainer's own integrations (``report_to``), and what sentscore adds to them.

The Trainer logs the training loss and each epoch's validation metrics to every tracker named. sentscore adds
what the Trainer does not see: the resolved config, the kept model's final metrics with their 95% intervals,
the calibration error before and after calibration, the long-text counts and the training time; TensorBoard
gets them as a run in its HParams view (so that runs of several configs compare side by side), MLflow as the
run's parameters and metrics, with the card, the metrics file and the plots as artifacts. TensorBoard runs go to
``logging_dir`` (default: ``runs/`` in the model folder, which the folder keeps). MLflow follows its own
settings (``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_NAME``); a run started inside an active MLflow run (a
caller's, or ``sentscore tune``'s) is nested in it. Only the main process of a multi-process run logs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SentscoreError
from ..model.folder import RUNS_DIR

if TYPE_CHECKING:
    from ..config import TrainConfig

logger = logging.getLogger(__name__)

TENSORBOARD, MLFLOW = "tensorboard", "mlflow"
#: The module each tracker needs, where it is not the tracker's own name.
MODULES = {"azure_ml": "azureml", "flyte": "flytekit", "kubeflow": "kfp", "tensorboard": "tensorboard"}
#: The files of a model folder logged to MLflow as artifacts.
ARTIFACTS = ("README.md", "metrics.json", "sentscore.json", "confusion_matrix.png", "training_curve.png")
ARTIFACTS += ("reliability_diagram.png",)


def trackers(config: TrainConfig) -> list[str]:
    """The trackers ``config`` names ("all": each one installed; "none": none)."""
    names = [name for name in config.report_to if name != "none"]
    if "all" in names:
        from transformers.integrations import get_available_reporting_integrations

        return list(get_available_reporting_integrations())
    return names


def trainer_report_to(config: TrainConfig) -> list[str] | str:
    """The Trainer's ``report_to``: every tracker but TensorBoard, whose writer sentscore gives the Trainer (the
    Trainer would write under its checkpoint folder, which goes when training ends)."""
    return [name for name in trackers(config) if name != TENSORBOARD] or "none"


def check_installed(config: TrainConfig) -> None:
    """Refuse, before any data is read, a tracker whose package is not installed."""
    missing = [name for name in trackers(config) if importlib.util.find_spec(MODULES.get(name, name)) is None]
    if missing:
        ours = set(missing) <= {TENSORBOARD, MLFLOW}
        raise SentscoreError(
            f"report_to names {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed",
            hint="pip install 'sentscore[tracking]' (TensorBoard and MLflow)"
            if ours
            else f"pip install {' '.join(missing)}, or leave it out of report_to.",
        )


def with_resolved_run(config: TrainConfig) -> TrainConfig:
    """``config`` with its run named (the time and the host, like the Trainer's runs) and, when TensorBoard
    logs, its logging folder decided."""
    name = config.run_name or f"{time.strftime('%b%d_%H-%M-%S')}_{socket.gethostname()}"
    logging_dir = config.logging_dir
    if logging_dir is None and TENSORBOARD in trackers(config):
        logging_dir = str(Path(config.output_dir) / RUNS_DIR)
    return dataclasses.replace(config, run_name=name, logging_dir=logging_dir)


def is_main_process() -> bool:
    """Whether this is the process that logs: rank 0 of a distributed run, or the only one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


class Tracker:
    """The trackers of one training: the callbacks the Trainer needs, the MLflow run it logs into, and
    sentscore's own results logged at the end."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.names = trackers(config) if is_main_process() else []
        self.mlflow_run_id: str | None = None

    @property
    def run_dir(self) -> Path | None:
        """The TensorBoard run's folder (None when TensorBoard does not log)."""
        if TENSORBOARD not in self.names:
            return None
        return Path(self.config.logging_dir) / self.config.run_name

    def callbacks(self) -> list[Any]:
        """The Trainer's TensorBoard callback, writing to this run's folder."""
        if self.run_dir is None:
            return []
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback

        return [TensorBoardCallback(SummaryWriter(log_dir=str(self.run_dir)))]

    @contextlib.contextmanager
    def active(self, stopped: type[BaseException]) -> Iterator[Tracker]:
        """The block runs inside this training's MLflow run (nested in an active one), which the Trainer's
        callback logs into and which ends with the block: finished, killed (on ``stopped``) or failed."""
        if MLFLOW not in self.names:
            yield self
            return
        import mlflow

        run = mlflow.start_run(run_name=self.config.run_name, nested=mlflow.active_run() is not None)
        self.mlflow_run_id = run.info.run_id
        status = "FAILED"
        try:
            yield self
            status = "FINISHED"
        except stopped:
            status = "KILLED"
            raise
        finally:
            mlflow.end_run(status)

    def log_result(self, result: Any) -> None:
        """sentscore's results of the training: its resolved config, final metrics, calibration, long texts and
        time."""
        if not self.names:
            return
        params, figures = flat(result.config.to_dict()), result_figures(result)
        if self.run_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            with SummaryWriter(log_dir=str(self.run_dir)) as writer:
                writer.add_text("sentscore/config", "```\n" + json.dumps(result.config.to_dict(), indent=2) + "\n```")
                writer.add_hparams(params, figures, run_name=".")
        if self.mlflow_run_id is not None:
            import mlflow

            mlflow.log_params({f"sentscore.{key}": value for key, value in params.items()})
            mlflow.log_metrics(figures)

    def log_folder(self, folder: Path) -> None:
        """The model folder's card, records and plots, as the MLflow run's artifacts."""
        if self.mlflow_run_id is None:
            return
        import mlflow

        for name in ARTIFACTS:
            if (folder / name).is_file():
                mlflow.log_artifact(str(folder / name), artifact_path="model_folder")


def flat(config: dict[str, Any]) -> dict[str, Any]:
    """Config values as trackers take them: numbers, booleans and strings; lists joined; None as "none"."""
    return {
        key: ",".join(map(str, value)) if isinstance(value, list) else "none" if value is None else value
        for key, value in config.items()
    }


def result_figures(result: Any) -> dict[str, float]:
    """The numbers a training ends with, by name: final metrics and the bounds of their 95% intervals,
    calibration error before and after, long-text counts, training time."""
    figures = {f"final/{k}": float(v) for k, v in result.metrics.items() if isinstance(v, int | float)}
    for metric, (low, high) in result.metrics.get("intervals", {}).items():
        figures[f"final/{metric}_low"], figures[f"final/{metric}_high"] = float(low), float(high)
    calibration = result.post_fit.get("calibration") or {}
    for key in ("ece_before", "ece_after", "temperature"):
        if isinstance(calibration.get(key), int | float):
            figures[f"calibration/{key}"] = float(calibration[key])
    figures.update({f"long_texts/{k}": float(v) for k, v in result.long_texts.items()})
    figures["time/train_seconds"] = float(result.train_seconds)
    return figures
