"""Objectives: what the model's head outputs, the loss that trains it, and how its outputs become a probability
distribution over the score levels.

Training, predict, evaluate, export and serve all ask the objective instead of assuming cross-entropy, and the
model folder records its name and parameters. :meth:`Objective.probabilities` works on NumPy arrays, so the ONNX
path scores without torch. Every objective has one calibration parameter, its ``temperature``, fitted on
held-out data after training (:meth:`Objective.fit_temperature`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..errors import SentscoreError

logger = logging.getLogger(__name__)


class Objective:
    """One way of training and reading a scoring head over ``num_levels`` ordered levels.

    ``class_weights`` (one per level) weight each example's loss by its true level; ``temperature`` divides
    the head's outputs before they become probabilities (1: as trained)."""

    name: ClassVar[str]
    #: Whether the stock ``AutoModelForSequenceClassification`` head, read by ``transformers.pipeline``, gives
    #: the right labels: its outputs are one logit per level.
    stock_head: ClassVar[bool] = False
    #: Whether the levels must be ordered numbers (an objective that uses the distance between levels).
    needs_order: ClassVar[bool] = True
    #: Whether the temperature can be folded into the weights of the layer that outputs the head's outputs
    #: (outputs/T = (W/T)x + b/T): the outputs are that linear layer's, and the temperature divides them.
    temperature_in_output_layer: ClassVar[bool] = True

    def __init__(self, num_levels: int, class_weights: Sequence[float] | None = None, temperature: float = 1.0):
        if class_weights is not None and len(class_weights) != num_levels:
            raise SentscoreError(f"class_weights has {len(class_weights)} entries for {num_levels} levels")
        self.num_levels = num_levels
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        self.temperature = float(temperature)

    @property
    def num_outputs(self) -> int:
        """Width of the head's output layer."""
        raise NotImplementedError

    def at_temperature_one(self) -> Objective:
        """The same objective with the temperature 1, as a folder whose output layer holds the temperature
        records it."""
        params = {k: v for k, v in self.params().items() if k != "temperature"}
        return objective_from_record(self.name, self.num_levels, params)

    def params(self) -> dict[str, Any]:
        """Parameters recorded in the model folder; :func:`objective_from_record` rebuilds the objective."""
        params: dict[str, Any] = {}
        if self.class_weights is not None:
            params["class_weights"] = self.class_weights
        if self.temperature != 1.0:
            params["temperature"] = self.temperature
        return params

    def loss(self, outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        """The training loss of a batch (the Trainer's ``compute_loss_func`` signature)."""
        return self.reduce(self.loss_per_item(head_outputs(outputs).float(), labels), labels, num_items_in_batch)

    def reduce(self, per_item: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        """A batch's loss from each example's: weighted by its true level's class weight, then averaged over the
        labelled items of the batch (or of all the batches accumulated into one step)."""
        import torch

        if self.class_weights is not None:  # a negative label (no level: distillation) has weight 1
            weights = torch.tensor([*self.class_weights, 1.0], device=per_item.device)
            per_item = per_item * weights[torch.where(labels >= 0, labels, len(self.class_weights))]
        if num_items_in_batch is not None:
            return per_item.sum() / num_items_in_batch
        return per_item.mean()

    def loss_per_item(self, outputs: Any, labels: Any) -> Any:
        """Each example's loss, a tensor of shape (batch,)."""
        raise NotImplementedError

    def probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """Head outputs, shape (n, num_outputs), to probabilities over the levels, shape (n, num_levels)."""
        return self.probabilities_at(np.asarray(outputs, dtype=np.float64), self.temperature).astype(np.float32)

    def probabilities_at(self, outputs: np.ndarray, temperature: float) -> np.ndarray:
        raise NotImplementedError

    def torch_probabilities(self, outputs: Any) -> Any:
        """:meth:`probabilities` at temperature 1 on a torch tensor, inside a model's forward pass (an ensemble
        averages its members' distributions in its graph)."""
        raise NotImplementedError

    def fit_temperature(self, outputs: np.ndarray, labels: Sequence[int]) -> float:
        """Set the temperature that minimises the negative log-likelihood of ``labels`` (held-out data) and
        return it. Temperature scaling keeps the ranking of the levels within each sentence (one parameter, so
        it barely overfits a validation set)."""
        from scipy.optimize import minimize_scalar

        outputs, labels = np.asarray(outputs, dtype=np.float64), np.asarray(labels)

        def nll(log_t: float) -> float:
            probs = self.probabilities_at(outputs, math.exp(log_t))
            return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean())

        best = minimize_scalar(nll, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
        self.temperature = round(math.exp(best.x), 6)
        return self.temperature


def head_outputs(outputs: Any) -> Any:
    """The head's output tensor from a model's output (a ModelOutput, a dict or a tuple)."""
    return outputs["logits"] if isinstance(outputs, dict) else outputs[0]


class Classification(Objective):
    """One logit per level, softmax probabilities and cross-entropy: the stock sequence-classification head.
    It ignores the order of the levels, so it also serves text labels."""

    name = "classification"
    stock_head = True
    needs_order = False

    @property
    def num_outputs(self) -> int:
        return self.num_levels

    def loss_per_item(self, outputs: Any, labels: Any) -> Any:
        import torch

        return torch.nn.functional.cross_entropy(outputs, labels, reduction="none")

    def probabilities_at(self, outputs: np.ndarray, temperature: float) -> np.ndarray:
        return softmax(outputs / temperature)

    def torch_probabilities(self, outputs: Any) -> Any:
        return outputs.softmax(-1)


class Ordinal(Objective):
    """CORN (conditional ordinal regression, Shi et al. 2021): output k is the logit of P(y > k | y > k-1),
    trained with binary cross-entropy on the examples above level k-1. The products of the conditional
    probabilities are rank-consistent by construction, and give a full distribution over the levels."""

    name = "ordinal"

    @property
    def num_outputs(self) -> int:
        return self.num_levels - 1

    def loss_per_item(self, outputs: Any, labels: Any) -> Any:
        import torch

        thresholds = torch.arange(self.num_levels - 1, device=labels.device)
        above = (labels.unsqueeze(1) > thresholds).float()  # y > k
        considered = (labels.unsqueeze(1) >= thresholds).float()  # y > k-1: the examples task k learns from
        bce = torch.nn.functional.binary_cross_entropy_with_logits(outputs, above, reduction="none")
        # Each example's share of the sum over tasks, so that the batch mean is CORN's mean over task examples.
        return (bce * considered).sum(1) * len(labels) / considered.sum().clamp(min=1)

    def probabilities_at(self, outputs: np.ndarray, temperature: float) -> np.ndarray:
        above = np.cumprod(sigmoid(outputs / temperature), axis=1)  # P(y > k)
        ones, zeros = np.ones((len(outputs), 1)), np.zeros((len(outputs), 1))
        upper, lower = np.hstack([ones, above]), np.hstack([above, zeros])
        return np.clip(upper - lower, 0.0, 1.0)

    def torch_probabilities(self, outputs: Any) -> Any:
        import torch

        # exp of a sum of log-sigmoids, not cumprod, which ONNX export lacks
        above = torch.exp(torch.cumsum(torch.nn.functional.logsigmoid(outputs), dim=1))
        ones, zeros = torch.ones_like(above[:, :1]), torch.zeros_like(above[:, :1])
        return (torch.cat([ones, above], 1) - torch.cat([above, zeros], 1)).clamp(0.0, 1.0)


class Regression(Objective):
    """One output, the level on a scale from -1 (lowest) to 1 (highest), trained with squared error. Its
    distribution over the levels is a normal around the output, cut at the midpoints between levels; the
    temperature is the normal's spread in levels."""

    name = "regression"
    temperature_in_output_layer = False  # it is the spread of the normal around the output
    #: The spread in levels before calibration.
    default_spread = 0.5

    @property
    def num_outputs(self) -> int:
        return 1

    def loss_per_item(self, outputs: Any, labels: Any) -> Any:
        half = (self.num_levels - 1) / 2
        return (outputs[:, 0] - (labels.float() - half) / half) ** 2

    def probabilities_at(self, outputs: np.ndarray, temperature: float) -> np.ndarray:
        from scipy.stats import norm

        half = (self.num_levels - 1) / 2
        centre = outputs[:, :1] * half + half  # in levels, 0..num_levels-1
        edges = np.arange(self.num_levels + 1) - 0.5
        edges[0], edges[-1] = -np.inf, np.inf
        cdf = norm.cdf((edges[None, :] - centre) / (self.default_spread * temperature))
        return np.clip(np.diff(cdf, axis=1), 1e-9, 1.0)

    def torch_probabilities(self, outputs: Any) -> Any:
        import torch

        half = (self.num_levels - 1) / 2
        centre = outputs[:, :1] * half + half
        inner = torch.arange(1, self.num_levels, device=outputs.device, dtype=outputs.dtype) - 0.5
        # the normal's CDF through erf, which ONNX export has (ndtr it lacks)
        cdf = 0.5 * (1 + torch.erf((inner[None, :] - centre) / (self.default_spread * math.sqrt(2))))
        ones, zeros = torch.ones_like(cdf[:, :1]), torch.zeros_like(cdf[:, :1])
        return (torch.cat([cdf, ones], 1) - torch.cat([zeros, cdf], 1)).clamp(1e-9, 1.0)


class OrdinalLogLoss(Objective):
    """Cross-entropy plus the ordinal log loss (Castagnos et al. 2022): one logit per level, and every wrong
    level's probability mass is penalised in proportion to its distance from the true level, so near misses
    cost less than far ones while the argmax still aims at the exact level."""

    name = "ordinal_log_loss"
    stock_head = True  # one logit per level, read by softmax, as the stock head's
    #: Weight of the ordinal log loss beside the cross-entropy.
    weight = 1.0

    @property
    def num_outputs(self) -> int:
        return self.num_levels

    def loss_per_item(self, outputs: Any, labels: Any) -> Any:
        import torch

        probs = outputs.softmax(-1)
        levels = torch.arange(self.num_levels, device=labels.device)
        distance = (levels.unsqueeze(0) - labels.unsqueeze(1)).abs().float()
        oll = -(torch.log((1 - probs).clamp(min=1e-7)) * distance).sum(1)
        return torch.nn.functional.cross_entropy(outputs, labels, reduction="none") + self.weight * oll

    def probabilities_at(self, outputs: np.ndarray, temperature: float) -> np.ndarray:
        return softmax(outputs / temperature)

    def torch_probabilities(self, outputs: Any) -> Any:
        return outputs.softmax(-1)


class AveragedProbabilities(Classification):
    """How an ensemble folder is read: its outputs are the log of its members' mean distribution, so softmax
    gives that mean back, and the temperature calibrates the ensemble as a whole. It is never trained."""

    name = "averaged_probabilities"
    stock_head = False
    temperature_in_output_layer = False  # its outputs are the log of its members' mean distribution

    def loss_per_item(self, outputs: Any, labels: Any) -> Any:
        raise SentscoreError("an ensemble is trained member by member, never through its averaged outputs")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # stable for large |x|


#: Every objective, by the name the config key ``objective`` and the model folder use.
OBJECTIVES: dict[str, type[Objective]] = {
    each.name: each for each in (Classification, Ordinal, Regression, OrdinalLogLoss)
}


def balanced_class_weights(label_ids: Sequence[int], num_levels: int) -> list[float]:
    """Inverse class frequency ("balanced", as scikit-learn defines it); 0 for a level with no examples."""
    counts = np.bincount(np.asarray(label_ids, dtype=int), minlength=num_levels).astype(float)
    weights = np.where(counts > 0, counts.sum() / (num_levels * np.maximum(counts, 1)), 0.0)
    return weights.tolist()


#: Objectives a model folder can name beside the trainable ones.
READ_ONLY_OBJECTIVES: dict[str, type[Objective]] = {AveragedProbabilities.name: AveragedProbabilities}


def objective_from_record(name: str, num_levels: int, params: dict[str, Any] | None = None) -> Objective:
    """The objective a model folder names, with its recorded parameters."""
    if name in READ_ONLY_OBJECTIVES:
        return READ_ONLY_OBJECTIVES[name](num_levels, **(params or {}))
    if name not in OBJECTIVES:
        raise SentscoreError(
            f"the model was trained with the objective '{name}', which this sentscore does not know",
            hint=f"Upgrade sentscore, or train again with one of {', '.join(OBJECTIVES)}.",
        )
    return OBJECTIVES[name](num_levels, **(params or {}))
