"""The ensemble step (``ensemble: N``): further models trained like the first with the seeds seed+1, ...,
seed+N-1 (their own head, dropout and data order; the first one's split), made one with it: a model that runs
them all and averages their distributions (:class:`sentscore.model.ensembles.ProbabilityEnsemble`, N times the
scoring time). Its validation outputs are what calibration then fits."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ...data import LabelledData
from ...model.ensembles import EnsembleConfig, ProbabilityEnsemble
from ...model.objectives import AveragedProbabilities, Objective
from .run import HeldOut

if TYPE_CHECKING:
    from .run import Run

logger = logging.getLogger(__name__)


def ensemble(run: Run) -> None:
    """The step: members 2..N trained (``run.train_another``), and the run's model, objective and validation
    outputs become the ensemble's; each member's seed and best validation metric are recorded."""
    config, metric = run.config, run.config.metric_for_best_model
    trainers = [run.trainer, *(run.train_another(member) for member in range(1, config.ensemble))]
    run.recorded["ensemble_members"] = [
        {"seed": config.seed + member, metric: trainer.state.best_metric} for member, trainer in enumerate(trainers)
    ]
    run.model = probability_ensemble([trainer.model for trainer in trainers], run.objective)
    logger.info(
        "%d models (seeds %d to %d) scored as one: their probabilities averaged",
        config.ensemble,
        config.seed,
        config.seed + config.ensemble - 1,
    )
    run.held_out = held_out_of(run.model, run.tokenizer, run.validation_data, config.max_length)
    run.objective = AveragedProbabilities(run.objective.num_levels)


def probability_ensemble(members: Sequence[Any], objective: Objective) -> ProbabilityEnsemble:
    """One model that scores like the mean of ``members``' distributions (members trained with ``objective``)."""
    first = members[0].config
    config = EnsembleConfig(
        members=[member.config.to_dict() for member in members],
        member_objective=objective.name,
        member_objective_params={k: v for k, v in objective.params().items() if k != "temperature"},
        num_levels=objective.num_levels,
        pad_token_id=getattr(first, "pad_token_id", None),
    )
    # on the CPU, where it is saved and where predict's backends run it
    return ProbabilityEnsemble(config, members=[member.float().cpu().eval() for member in members])


def held_out_of(ensemble: ProbabilityEnsemble, tokenizer: Any, data: LabelledData, max_length: int) -> HeldOut:
    """The ensemble's outputs on the validation set, scored in input order as predict scores it (each member's
    Trainer evaluates in an order of its own seed, so theirs cannot be matched up)."""
    from tokenizers import Tokenizer

    from ...scoring.backends import run_in_batches, torch_runner, truncating

    # a copy, so that the training tokenizer's own settings stay as they are
    fast = truncating(Tokenizer.from_str(tokenizer.backend_tokenizer.to_str()), max_length)
    outputs = run_in_batches(torch_runner(ensemble), fast.encode_batch(list(data.texts)))
    labels = np.asarray(data.label_ids)
    loss = float(-outputs[np.arange(len(labels)), labels].mean())  # outputs are log-probabilities
    return HeldOut(outputs, labels, loss)
