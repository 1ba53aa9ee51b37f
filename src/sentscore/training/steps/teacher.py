"""Knowledge distillation: a teacher model's probabilities for the training sentences become a second target, so
that a small, fast model learns the graded judgement of a larger one (how much of each level it sees in a
sentence), not only the one true level. As in sentence-transformers' distillation losses, the teacher's output
travels as the batch's labels: each training example's label is its true level followed by the teacher's
distribution."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

from ...errors import SentscoreError
from ...model.objectives import head_outputs

if TYPE_CHECKING:
    from ...data import LabelledData
    from ...model.objectives import Objective
    from .run import Run

logger = logging.getLogger(__name__)


def teach(run: Run) -> None:
    """The step: the training sentences get the distributions of the config's teacher."""
    run.train_data = with_teacher(run.train_data, run.config.teacher)


def with_teacher(data: LabelledData, teacher: str) -> LabelledData:
    """``data`` with the probabilities that the model folder ``teacher`` gives each of its texts (calibrated,
    as the teacher scores them); the teacher must score the same levels."""
    from ...scoring.scorer import Scorer

    try:
        scorer = Scorer.load(teacher, backend="torch")
    except SentscoreError as exc:
        raise SentscoreError(
            f"teacher: {exc.message}", hint="Give teacher a model folder that sentscore train wrote."
        ) from None
    if tuple(scorer.scale.labels) != tuple(data.scale.labels):
        raise SentscoreError(
            f"the teacher {teacher} scores the levels {', '.join(scorer.scale.labels)}, but {data.source} has "
            f"{', '.join(data.scale.labels)}",
            hint="Use a teacher trained on the same levels (the same kind of data), or leave teacher unset.",
        )
    started = time.perf_counter()
    probs = scorer.predict_proba(data.texts)
    logger.info(
        "Teacher %s scored the %d training sentences in %.0f s", teacher, len(data), time.perf_counter() - started
    )
    return dataclasses.replace(data, teacher_probs=probs.astype(float).round(6).tolist())


def labels_with_teacher(data: LabelledData) -> list[Any]:
    """The training labels: each text's level id, or, with a teacher, its level id and the teacher's
    distribution in one row (what :class:`DistillationLoss` unpacks)."""
    if data.teacher_probs is None:
        return list(data.label_ids)
    return [[float(level), *probs] for level, probs in zip(data.label_ids, data.teacher_probs, strict=True)]


class DistillationLoss:
    """The objective's own loss on the true levels, and, with ``weight``, the cross-entropy of the model's
    distribution against the teacher's (every objective reads its outputs as a distribution, so any objective
    can learn from a teacher). Validation batches carry the true levels alone and get the objective's loss."""

    def __init__(self, objective: Objective, weight: float):
        self.objective = objective
        self.weight = weight

    def __call__(self, outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        if labels.dim() == 1:
            return self.objective.loss(outputs, labels, num_items_in_batch)
        levels, teacher = labels[:, 0].long(), labels[:, 1:].float()
        logits = head_outputs(outputs).float()
        own = self.objective.loss_per_item(logits, levels)
        student = self.objective.torch_probabilities(logits).clamp(min=1e-7)
        matched = -(teacher * student.log()).sum(1)
        per_item = (1 - self.weight) * own + self.weight * matched
        if num_items_in_batch is not None:  # the Trainer counted every entry of the label rows
            num_items_in_batch = num_items_in_batch / labels.shape[1]
        return self.objective.reduce(per_item, levels, num_items_in_batch)
