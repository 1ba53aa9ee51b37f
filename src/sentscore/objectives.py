"""Objectives: what the model's head outputs, the loss that trains it, and how its outputs become a probability
distribution over the score levels.

Training, predict, evaluate, export and serve all ask the objective instead of assuming cross-entropy, and the
model folder records its name and parameters. :meth:`Objective.probabilities` works on NumPy arrays, so the ONNX
path scores without torch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from .errors import SentscoreError

logger = logging.getLogger(__name__)


class Objective:
    """One way of training and reading a scoring head over ``num_levels`` ordered levels."""

    name: ClassVar[str]
    #: Whether the stock ``AutoModelForSequenceClassification`` head, read by ``transformers.pipeline``, gives
    #: the right labels: its outputs are one logit per level.
    stock_head: ClassVar[bool] = False

    def __init__(self, num_levels: int):
        self.num_levels = num_levels

    @property
    def num_outputs(self) -> int:
        """Width of the head's output layer."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """Parameters recorded in the model folder; :func:`objective_from_record` rebuilds the objective."""
        return {}

    def loss(self, outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        """The training loss of a batch (the Trainer's ``compute_loss_func`` signature)."""
        raise NotImplementedError

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """Head outputs, shape (n, num_outputs), to probabilities over the levels, shape (n, num_levels)."""
        raise NotImplementedError


def head_outputs(outputs: Any) -> Any:
    """The head's output tensor from a model's output (a ModelOutput, a dict or a tuple)."""
    return outputs["logits"] if isinstance(outputs, dict) else outputs[0]


def mean_over_batch(per_item: Any, num_items_in_batch: Any) -> Any:
    """The Trainer passes the number of labelled items across accumulated batches; without it, the batch mean."""
    if num_items_in_batch is not None:
        return per_item.sum() / num_items_in_batch
    return per_item.mean()


class Classification(Objective):
    """One logit per level, softmax probabilities and cross-entropy: the stock sequence-classification head.
    ``class_weights`` (one per level) weight each example's loss by its true level."""

    name = "classification"
    stock_head = True

    def __init__(self, num_levels: int, class_weights: Sequence[float] | None = None):
        super().__init__(num_levels)
        if class_weights is not None and len(class_weights) != num_levels:
            raise SentscoreError(f"class_weights has {len(class_weights)} entries for {num_levels} levels")
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]

    @property
    def num_outputs(self) -> int:
        return self.num_levels

    def params(self) -> dict[str, Any]:
        return {"class_weights": self.class_weights} if self.class_weights is not None else {}

    def loss(self, outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        import torch

        logits = head_outputs(outputs).float()
        weight = None if self.class_weights is None else torch.tensor(self.class_weights, device=logits.device)
        per_item = torch.nn.functional.cross_entropy(logits, labels, weight=weight, reduction="none")
        return mean_over_batch(per_item, num_items_in_batch)

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        return softmax(outputs)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


#: Every objective, by the name the config key ``objective`` and the model folder use.
OBJECTIVES: dict[str, type[Objective]] = {Classification.name: Classification}


def balanced_class_weights(label_ids: Sequence[int], num_levels: int) -> list[float]:
    """Inverse class frequency ("balanced", as scikit-learn defines it); 0 for a level with no examples."""
    counts = np.bincount(np.asarray(label_ids, dtype=int), minlength=num_levels).astype(float)
    weights = np.where(counts > 0, counts.sum() / (num_levels * np.maximum(counts, 1)), 0.0)
    return weights.tolist()


def objective_from_record(name: str, num_levels: int, params: dict[str, Any] | None = None) -> Objective:
    """The objective a model folder names, with its recorded parameters."""
    if name not in OBJECTIVES:
        raise SentscoreError(
            f"the model was trained with the objective '{name}', which this sentscore does not know",
            hint=f"Upgrade sentscore, or train again with one of {', '.join(OBJECTIVES)}.",
        )
    return OBJECTIVES[name](num_levels, **(params or {}))
