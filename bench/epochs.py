"""Each epoch's predictions during a bench.quality run: after the Trainer evaluates an epoch, the model as it
is then scores sentscore's validation split and the dev set, so that every rule for choosing the epoch to keep
(best validation accuracy, lowest validation loss, a proper scoring rule, ...) can be compared afterwards on dev
from one training (bench.kept_epoch)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .measure import DevAccuracyClock, five_level_objective


class EpochPredictions:
    """A TrainerCallback (``.callback``) recording, at each epoch's evaluation, the probabilities of the
    validation split and of the dev file; ``record()`` gives them with the true levels."""

    def __init__(self, config: Any, dev_csv: str) -> None:
        from transformers import AutoTokenizer

        from sentscore.data import load_labelled
        from sentscore.model.base import resolve_model_source
        from sentscore.training.examples import prepare_data

        validation = prepare_data(config)[1]  # the split train() makes from the same config and seed
        dev = load_labelled(dev_csv, scale=validation.scale)
        tokenizer = AutoTokenizer.from_pretrained(resolve_model_source(config.model_name))
        objective = five_level_objective()  # softmax over one logit per level, as ordinal_log_loss reads them
        self.sets = {
            name: DevAccuracyClock(data.texts, data.label_ids, tokenizer, config.max_length, objective)
            for name, data in (("validation", validation), ("dev", dev))
        }
        self.epochs: list[dict[str, Any]] = []
        self.callback = self._callback()

    def _callback(self) -> Any:
        from transformers import TrainerCallback

        outer = self

        class Callback(TrainerCallback):
            def on_evaluate(self, args, state, control, model=None, metrics=None, **kwargs):
                outer.epochs.append(
                    {
                        "epoch": float(state.epoch),
                        "trainer_metrics": {k: v for k, v in (metrics or {}).items() if isinstance(v, float)},
                        **{
                            name: clock.dev_probabilities(model).round(4).tolist() for name, clock in outer.sets.items()
                        },
                    }
                )

        return Callback()

    def record(self) -> dict[str, Any]:
        return {
            "labels": {name: np.asarray(clock.dev_labels).tolist() for name, clock in self.sets.items()},
            "epochs": self.epochs,
        }
