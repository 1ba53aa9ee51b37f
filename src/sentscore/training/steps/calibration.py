"""The steps after fitting: what training learns from the validation set once the best epoch is kept.

The kept model's validation outputs are taken once; temperature scaling (Guo et al., 2017) makes the
probabilities honest; the conformal scores let predict give score sets with a chosen coverage. The model folder
records what each finds.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from ...metrics import expected_calibration_error
from ...model.conformal import METHODS, nonconformity
from ...model.objectives import Objective
from .run import HeldOut

if TYPE_CHECKING:
    from .run import Run

logger = logging.getLogger(__name__)

#: Fewer validation sentences than this, and the temperature stays 1: fitted on 10, it made the held-out
#: calibration worse in about one draw in five, on 20 in one in twelve (docs/decisions.md).
MIN_CALIBRATION_SENTENCES = 20


def held_out_predictions(trainer: Any) -> HeldOut:
    """The kept model scored on the validation set (fp32, as predict scores it): the outputs of the validation
    that chose it, where this process made it (the same model, batches and order give the same outputs: a test
    holds it), else scored again."""
    kept = getattr(trainer, "kept_validation", lambda: None)()
    prediction = kept if kept is not None else trainer.predict(trainer.eval_dataset)
    prefix = "eval" if kept is not None else "test"
    # The Trainer evaluates in length-grouped order, so keep the labels it returns with the outputs.
    loss = float(prediction.metrics.get(f"{prefix}_loss", float("nan")))
    return HeldOut(np.asarray(prediction.predictions), np.asarray(prediction.label_ids), loss)


def calibrate_temperature(held_out: HeldOut, objective: Objective) -> dict[str, Any]:
    """Fit the objective's temperature on the validation set; record it with the calibration error before
    and after (after is measured on the same sentences it was fitted on: `sentscore evaluate` on other data
    gives the honest figure)."""
    before = expected_calibration_error(objective.probabilities(held_out.outputs), held_out.label_ids)
    if len(held_out) < MIN_CALIBRATION_SENTENCES:
        logger.warning(
            "Not calibrated: %d validation sentences are too few to fit a temperature (at least %d); the "
            "probabilities are as trained. A larger validation set calibrates them.",
            len(held_out),
            MIN_CALIBRATION_SENTENCES,
        )
        record = {"method": "none", "temperature": 1.0, "ece_before": before, "ece_after": before}
        return {"calibration": {**record, "sentences": len(held_out), "too_few_below": MIN_CALIBRATION_SENTENCES}}
    temperature = objective.fit_temperature(held_out.outputs, held_out.label_ids)
    after = expected_calibration_error(objective.probabilities(held_out.outputs), held_out.label_ids)
    logger.info("Calibrated: temperature %.3f, expected calibration error %.4f -> %.4f", temperature, before, after)
    record = {"method": "temperature", "temperature": temperature, "ece_before": before, "ece_after": after}
    return {"calibration": {**record, "sentences": len(held_out)}}


def fold_temperature(model: Any, objective: Objective) -> Objective:
    """Divide the output layer of ``model`` by the objective's calibrated temperature, in place, so that every
    loader of the saved weights (transformers' pipeline, an ONNX export) gives the calibrated probabilities;
    returns the objective the folder then records (temperature 1). Left as it is where the objective's outputs
    are no linear layer's divided by the temperature (regression's spread, an ensemble's averaged
    probabilities)."""
    import torch

    if objective.temperature == 1.0 or not objective.temperature_in_output_layer:
        return objective
    layer = output_layer(model, objective.num_outputs)
    if layer is None:
        return objective
    with torch.no_grad():
        layer.weight.div_(objective.temperature)
        layer.bias.div_(objective.temperature)
    logger.debug("Temperature %.3f folded into the output layer's weights", objective.temperature)
    return objective.at_temperature_one()


def output_layer(model: Any, num_outputs: int) -> Any:
    """The linear layer whose outputs are the model's logits: the last linear layer the model registers, when it
    is as wide as the head's outputs (sentscore's head; the classifier of BERT, DistilBERT, RoBERTa and ELECTRA
    sequence classifiers), else None."""
    from torch import nn

    linear = [module for module in model.modules() if isinstance(module, nn.Linear)]
    return linear[-1] if linear and linear[-1].out_features == num_outputs else None


def conformal_calibration(held_out: HeldOut, objective: Objective) -> dict[str, Any]:
    """The validation sentences' conformal scores under the (calibrated) probabilities predict will give."""
    method = METHODS[0]
    scores = nonconformity(objective.probabilities(held_out.outputs), held_out.label_ids, method)
    return {"conformal_scores": [round(float(s), 6) for s in scores], "conformal_method": method}


def validation_outputs(run: Run) -> None:
    """The step: the kept model's outputs on the validation set (an ensemble step may have given them)."""
    if run.held_out is None:
        run.held_out = held_out_predictions(run.trainer)


def calibrate(run: Run) -> None:
    """The step: the objective's temperature fitted on the validation outputs."""
    run.recorded.update(calibrate_temperature(run.held_out, run.objective))


def conformal(run: Run) -> None:
    """The step: the validation sentences' conformal scores, for score sets at scoring time."""
    run.recorded.update(conformal_calibration(run.held_out, run.objective))
