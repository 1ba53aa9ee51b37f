"""The optional steps of training, one module each, chosen from the config here and nowhere else.

A step is a function of the :class:`Run`: it reads what training has made so far and changes it. They run at
three points of the recipe: once the data is read (the teacher's distributions), before the Trainer fits a
model (the contrastive pre-step, then the head fitted first), and after the best epoch is kept (the ensemble,
then the validation outputs, calibration and the conformal scores, then the model trained again on every labelled
sentence). A new step is a new module and a line in
:func:`chosen`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .run import Run, Step

if TYPE_CHECKING:
    from ...config import TrainConfig

__all__ = ["Run", "Step", "Steps", "chosen", "run_all"]


@dataclass
class Steps:
    """The steps a config asks for, by the point of the recipe where they run, in order."""

    on_data: list[Step]
    before_fit: list[Step]
    after_fit: list[Step]


def chosen(config: TrainConfig) -> Steps:
    """The steps ``config`` asks for."""
    from .calibration import calibrate, conformal, validation_outputs
    from .contrastive import contrastive
    from .ensemble import ensemble
    from .probe import probe
    from .refit import refit
    from .teacher import teach

    return Steps(
        on_data=[teach] if config.teacher else [],
        before_fit=[*([contrastive] if config.contrastive_pairs else []), *([probe] if config.head_first else [])],
        after_fit=[
            *([ensemble] if config.ensemble > 1 else []),
            validation_outputs,
            *([calibrate] if config.calibrate else []),
            conformal,
            *([refit] if config.refit else []),
        ],
    )


def run_all(steps: Sequence[Step], run: Run) -> None:
    """Run ``steps`` in order on ``run``, adding the time they take to its training time."""
    for step in steps:
        started = time.perf_counter()
        step(run)
        run.seconds += time.perf_counter() - started
