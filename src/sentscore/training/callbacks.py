"""Trainer callbacks: what sentscore logs and shows while it trains, and memory handed back between epochs."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback

from .runtime import c_library_function

logger = logging.getLogger("sentscore.training")


class GpuMemoryLogger(TrainerCallback):
    """Logs the GPU's name and memory at the start of every epoch (CUDA only), as the recipe did."""

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        import torch

        if not torch.cuda.is_available() or not state.is_world_process_zero:
            return
        device = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(device)
        gib = 1024**3
        logger.info(
            "Epoch %d on GPU %s: %.2f GiB allocated, %.2f GiB reserved, %.2f GiB total",
            int(state.epoch or 0) + 1,
            props.name,
            torch.cuda.memory_allocated(device) / gib,
            torch.cuda.memory_reserved(device) / gib,
            props.total_memory / gib,
        )


class ReleaseFreedMemory(TrainerCallback):
    """Hands the memory freed by training back to the operating system after each evaluation and save.

    Batches of varying length leave glibc's heap fragmented, so a CPU run's resident memory creeps up over an
    epoch, and the end of training (best-model reload, final evaluation, save) stacks on top of it; trimming
    at epoch boundaries lowers the peak at no measurable cost (trimming every few steps costs speed). A no-op
    where the C library has no malloc_trim. It changes no setting: it only returns free pages.
    During training it collects the young generations only: an epoch's cyclic garbage is young, and a full
    collection, which walks every object torch and transformers hold, found none beyond it (docs/decisions.md).
    """

    def __init__(self) -> None:
        self._trim = c_library_function("malloc_trim")

    def release(self, generation: int = 2) -> None:
        """Collect garbage up to ``generation`` (2: all), then hand free heap pages back."""
        import gc

        gc.collect(generation)
        if self._trim is not None:
            self._trim(0)

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.release(generation=1)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.release(generation=1)


class PeriodicCheckpoint(TrainerCallback):
    """Writes a resumable checkpoint (weights, optimizer, schedule, random states, place in the epoch) every
    ``minutes`` of training, so that a killed run loses at most that much; epoch ends write theirs anyway."""

    def __init__(self, minutes: float):
        self.seconds = minutes * 60
        self.last = time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.seconds and time.monotonic() - self.last >= self.seconds:
            control.should_save = True

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.last = time.monotonic()


class StopWhenAsked(TrainerCallback):
    """Ends training after the current step once ``event`` is set (the CLI sets it on Ctrl-C or SIGTERM),
    writing a resumable checkpoint first."""

    def __init__(self, event: threading.Event):
        self.event = event
        self.stopped_at: int | None = None

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.event.is_set():
            control.should_save = True
            control.should_training_stop = True
            self.stopped_at = state.global_step

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # The Trainer ends the cut epoch as if it were whole: it would evaluate and save again at the same step,
        # writing the random state as the evaluation left it (its data loader draws a seed) over the one the
        # next step needs, and recording a mid-epoch evaluation as the epoch's. A resumed run ends the epoch.
        if self.stopped_at is not None:
            control.should_evaluate = False
            control.should_save = False


class ReportToTrial(TrainerCallback):
    """Reports each epoch's validation ``metric`` to an Optuna trial, and sets ``stop`` (the recipe's own stop
    event, which ends training cleanly) when the pruner says the trial is behind or ``time_is_up()``."""

    def __init__(self, trial: Any, metric: str, time_is_up: Any):
        self.trial, self.metric, self.time_is_up = trial, metric, time_is_up
        self.stop = threading.Event()
        self.reason: str | None = None

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float], **kwargs: Any) -> None:
        value = metrics.get(f"eval_{self.metric}")
        if value is not None:
            self.trial.report(float(value), step=round(state.epoch or 0))
            if self.trial.should_prune():
                self.reason = f"pruned at epoch {state.epoch:.0f}"
                self.stop.set()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self.stop.is_set() and self.time_is_up():
            self.reason = "time is up"
            self.stop.set()


class ProgressBars(ProgressCallback):
    """The Trainer's progress bars without the dict it prints every few steps (EpochLogger says less, better)."""

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        pass


class EpochLogger(TrainerCallback):
    """One log line per epoch with the validation loss and the metric that picks the best model."""

    def __init__(self, metric: str):
        self.metric = metric

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if logs and "eval_loss" in logs and state.is_world_process_zero:
            value = logs.get(f"eval_{self.metric}", logs["eval_loss"])
            logger.info(
                "Epoch %.0f: validation loss %.4f, %s %.4f", logs.get("epoch", 0), logs["eval_loss"], self.metric, value
            )
