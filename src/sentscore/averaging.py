"""Weight averaging of the epochs' checkpoints instead of keeping one epoch.

Fine-tuned from one pre-trained start, the checkpoints of one run lie in one basin, and the mean of their
weights is usually at least as good as the best of them while depending less on which epoch the validation
set happened to favour (model soups, Wortsman et al. 2022; SWA). ``uniform`` averages every epoch-end
checkpoint; ``greedy`` starts from the best one and adds each next-best only if the validation metric does not
get worse (the greedy soup).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

AVERAGINGS = ("none", "uniform", "greedy")


def epoch_checkpoints(checkpoint_dir: Path) -> list[Path]:
    """The Trainer's checkpoint folders, in the order they were written."""
    found = [p for p in Path(checkpoint_dir).glob("checkpoint-*") if (p / "model.safetensors").is_file()]
    return sorted(found, key=lambda p: int(re.sub(r"\D", "", p.name) or 0))


def average_checkpoints(trainer: Any, how: str, metric: str, greater_is_better: bool) -> int:
    """Replace the trainer's model weights by the ``how`` average of its epoch checkpoints; returns how many
    checkpoints went into it (1: the model is the best epoch's, as without averaging)."""
    checkpoints = ranked_checkpoints(trainer, metric, greater_is_better) if how != "none" else []
    if len(checkpoints) < 2:
        return 1
    from safetensors.torch import load_file

    soup = SoupOfWeights.for_model(trainer.model).with_added(load_file(checkpoints[0] / "model.safetensors"))
    best = validation_metric(trainer, soup, metric) if how == "greedy" else None
    for checkpoint in checkpoints[1:]:
        candidate = soup.with_added(load_file(checkpoint / "model.safetensors"))
        if how == "greedy":
            score = validation_metric(trainer, candidate, metric)
            if score != best and (score > best) != greater_is_better:
                continue  # it made the soup worse
            best = score
        soup = candidate
    soup.load_into(trainer.model)
    logger.info("Weights averaged over %d of %d epoch checkpoints (%s)", soup.count, len(checkpoints), how)
    return soup.count


def ranked_checkpoints(trainer: Any, metric: str, greater_is_better: bool) -> list[Path]:
    """The epoch checkpoints, best validation ``metric`` first (the step each was saved at is in the log)."""
    by_step = {e["step"]: e[f"eval_{metric}"] for e in trainer.state.log_history if f"eval_{metric}" in e}
    checkpoints = [p for p in epoch_checkpoints(Path(trainer.args.output_dir)) if _step(p) in by_step]
    return sorted(checkpoints, key=lambda p: by_step[_step(p)], reverse=greater_is_better)


def _step(checkpoint: Path) -> int:
    return int(checkpoint.name.rsplit("-", 1)[-1])


def validation_metric(trainer: Any, soup: SoupOfWeights, metric: str) -> float:
    """The validation ``metric`` of the soup's weights (through ``predict``, which leaves the epochs' log and
    the early-stopping state alone)."""
    soup.load_into(trainer.model)
    return float(trainer.predict(trainer.eval_dataset, metric_key_prefix="soup").metrics[f"soup_{metric}"])


@dataclass(frozen=True)
class SoupOfWeights:
    """A running mean of a model's floating-point weights, by name (its other tensors are left alone)."""

    names: frozenset[str]
    sums: dict[str, Any] = field(default_factory=dict)
    count: int = 0

    @classmethod
    def for_model(cls, model: Any) -> SoupOfWeights:
        return cls(frozenset(name for name, tensor in model.state_dict().items() if tensor.is_floating_point()))

    def with_added(self, weights: dict[str, Any]) -> SoupOfWeights:
        sums = dict(self.sums)
        for name, tensor in weights.items():
            if name in self.names:
                # a copy, so that a sum never aliases a live model's weights
                sums[name] = sums[name] + tensor.float() if name in sums else tensor.float().clone()
        return SoupOfWeights(self.names, sums, self.count + 1)

    def load_into(self, model: Any) -> None:
        state = model.state_dict()
        mean = {name: (total / self.count).to(state[name].dtype) for name, total in self.sums.items()}
        model.load_state_dict(mean, strict=False)
