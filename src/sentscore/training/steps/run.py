"""What a training step works on: the run so far."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ...config import TrainConfig
    from ...data import LabelledData, UnlabelledData
    from ...model.objectives import Objective


@dataclass
class HeldOut:
    """The kept model's raw outputs on the validation set, the true level ids, and the validation loss."""

    outputs: np.ndarray
    label_ids: np.ndarray
    loss: float

    def __len__(self) -> int:
        return len(self.label_ids)


@dataclass
class Run:
    """What training has made so far; each step reads it and may change it."""

    config: TrainConfig
    train_data: LabelledData
    validation_data: LabelledData
    objective: Objective | None = None
    model: Any = None
    tokenizer: Any = None
    trainer: Any = None
    #: the kept model's outputs on the validation set, which calibration and the conformal scores fit
    held_out: HeldOut | None = None
    #: what the steps record for the model folder (calibration, conformal scores, ensemble members)
    recorded: dict[str, Any] = field(default_factory=dict)
    #: the seconds the steps took, counted as training time
    seconds: float = 0.0
    #: trains a further model like this one with the seed ``seed + k`` and returns its trainer (the recipe's)
    train_another: Callable[[int], Any] | None = None
    #: sentences without a score that the model learns from its teacher's distributions
    unlabelled: UnlabelledData | None = None
    #: whether a step reused the work of the interrupted run being resumed (the model may have no checkpoint yet)
    resumed_before_fit: bool = False
    show_progress: bool = False
    #: the test file's sentences: never trained or validated on, scored once by the kept model at the end
    test_data: LabelledData | None = None
    #: trains a new model the same way on the given sentences and returns it (the recipe's; for refit)
    train_again: Callable[[LabelledData], Any] | None = None

    @property
    def train_sentences(self) -> int:
        """The sentences trained on: the labelled ones and the unlabelled ones."""
        return len(self.train_data) + (len(self.unlabelled) if self.unlabelled else 0)


#: A step: a function that reads the run and changes it.
Step = Callable[[Run], None]
