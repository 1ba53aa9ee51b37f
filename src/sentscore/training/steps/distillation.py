"""Distillation's targets and loss: each training example's label row is its true level followed by the
teacher's distribution (as in sentence-transformers' distillation losses, the teacher's output travels as the
batch's labels); a sentence without a score has no level, and learns from the teacher alone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...model.objectives import head_outputs

if TYPE_CHECKING:
    from ...data import LabelledData
    from ...model.objectives import Objective
    from .run import Run


def labels_with_teacher(data: LabelledData) -> list[Any]:
    """The training labels: each text's level id, or, with a teacher, its level id and the teacher's
    distribution in one row (what :class:`DistillationLoss` unpacks)."""
    if data.teacher_probs is None:
        return list(data.label_ids)
    return [[float(level), *probs] for level, probs in zip(data.label_ids, data.teacher_probs, strict=True)]


#: The level id in a label row of a sentence without a score (its loss is the match to the teacher alone).
UNLABELLED = -1.0


def unlabelled_rows(probabilities: list[list[float]]) -> list[list[float]]:
    """The label rows of unlabelled sentences: no level, the teacher's distribution."""
    return [[UNLABELLED, *probs] for probs in probabilities]


def training_loss(run: Run) -> Any:
    """The Trainer's loss for ``run``: the objective's, or with a teacher's distributions, :class:`DistillationLoss`."""
    if run.train_data.teacher_probs is None:
        return run.objective.loss
    return DistillationLoss(run.objective, run.config.teacher_weight)


class DistillationLoss:
    """The objective's own loss on the true levels, and, with ``weight``, the cross-entropy of the model's
    distribution against the teacher's (every objective reads its outputs as a distribution, so any objective
    can learn from a teacher); a sentence without a level learns from the teacher alone. Validation batches
    carry the true levels alone and get the objective's loss."""

    def __init__(self, objective: Objective, weight: float):
        self.objective = objective
        self.weight = weight

    def __call__(self, outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        import torch

        if labels.dim() == 1:
            return self.objective.loss(outputs, labels, num_items_in_batch)
        levels, teacher = labels[:, 0].long(), labels[:, 1:].float()
        labelled = levels >= 0
        logits = head_outputs(outputs).float()
        own = self.objective.loss_per_item(logits, levels.clamp(min=0))
        student = self.objective.torch_probabilities(logits).clamp(min=1e-7)
        matched = -(teacher * student.log()).sum(1)
        per_item = torch.where(labelled, (1 - self.weight) * own + self.weight * matched, matched)
        if num_items_in_batch is not None:  # the Trainer counted every entry of the label rows
            num_items_in_batch = num_items_in_batch / labels.shape[1]
        return self.objective.reduce(per_item, levels, num_items_in_batch)
