"""The model trained again on every labelled sentence once validation has measured it (``refit``).

With a few labels, the validation split takes a fifth of the sentences the model could learn from. Here the run
is first trained and measured as always: the validation split gives the metrics, the temperature and the
conformal scores. Then a new model is trained the same way (the steps before fitting, from the base
checkpoint) on the training and validation sentences together, and that one is saved with what the first one's
validation found: the figures describe the same recipe on a fifth fewer sentences (scikit-learn refits on the
whole set after cross-validation, AutoGluon's ``refit_full`` likewise). Only without fine-tuning epochs, whose
number would be chosen on sentences the refitted model trains on.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...data import LabelledData
    from .run import Run

logger = logging.getLogger(__name__)


def every_labelled(run: Run) -> LabelledData:
    """The training and validation sentences together, in that order."""
    train, validation = run.train_data, run.validation_data
    return dataclasses.replace(
        train, texts=[*train.texts, *validation.texts], label_ids=[*train.label_ids, *validation.label_ids]
    )


def refit(run: Run) -> None:
    """The step: ``run.model`` replaced by one trained the same way on every labelled sentence."""
    if run.train_again is None:
        raise RuntimeError("refit needs the recipe's train_again")
    everything = every_labelled(run)
    logger.info("Training again on all %d labelled sentences (refit), validation having measured it", len(everything))
    run.model = run.train_again(everything)
