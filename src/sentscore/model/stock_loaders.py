"""The ``config.json`` of a model folder whose head only sentscore runs (its own head, an ensemble): written so
that every stock loader refuses it loudly rather than load a random head, and read back as sentscore's own."""

from __future__ import annotations

from typing import Any

#: Model types of the heads only sentscore runs: its own head (mean pooling, CORN, regression) and an ensemble.
HEAD_MODEL_TYPE = "sentscore"
ENSEMBLE_MODEL_TYPE = "sentscore_ensemble"
#: The ``config.json`` key that holds such a folder's own model type (its ``model_type`` is the encoder's).
OWN_MODEL_TYPE_KEY = "sentscore_model_type"
#: What a stock loader reads, and stops at, in such a folder's ``config.json``.
STOCK_LOADER_MESSAGE = (
    "this folder holds a sentscore model ({what}), which transformers cannot run: score it with "
    '`sentscore predict FOLDER "a sentence"` or sentscore.Scorer.load(FOLDER) (pip install sentscore); '
    "train with the defaults (pooling cls, a softmax objective) for a folder that transformers loads"
)


def own_model_type(model_config: dict[str, Any]) -> str | None:
    """The model type of the head only sentscore runs that a ``config.json`` describes (also as folders written
    before the guard had it), or None for a stock model."""
    if OWN_MODEL_TYPE_KEY in model_config:
        return str(model_config[OWN_MODEL_TYPE_KEY])
    model_type = model_config.get("model_type")
    return model_type if model_type in (HEAD_MODEL_TYPE, ENSEMBLE_MODEL_TYPE) else None


def guarding_stock_loaders(model_config: dict[str, Any], what: str) -> dict[str, Any]:
    """``config.json`` of a head only sentscore runs, written so that every stock loader refuses it loudly.

    Its ``model_type`` is the encoder's, so that transformers finds a config class for it (an unknown model type
    would send the user to upgrade transformers), and its label map has one entry, the message; every config
    class reads the label map's keys as level ids as it loads, and stops there, quoting the message. The own
    model type is kept under :data:`OWN_MODEL_TYPE_KEY`; :func:`own_config` reads the file back."""
    guarded = dict(model_config)
    guarded[OWN_MODEL_TYPE_KEY] = model_config["model_type"]
    guarded["model_type"] = encoder_model_type(model_config)
    guarded["id2label"] = {STOCK_LOADER_MESSAGE.format(what=what): "see sentscore.json for the labels"}
    guarded.pop("label2id", None)
    return guarded


def own_config(model_config: dict[str, Any]) -> dict[str, Any]:
    """A ``config.json`` of a head only sentscore runs as its own config class reads it: the guard undone."""
    record = dict(model_config)
    if OWN_MODEL_TYPE_KEY in record:
        record["model_type"] = record.pop(OWN_MODEL_TYPE_KEY)
        record.pop("id2label", None)
    return record


def encoder_model_type(model_config: dict[str, Any]) -> str:
    """The model type of the encoder under sentscore's head (or under an ensemble's first member)."""
    if model_config.get("encoder"):
        return encoder_model_type(model_config["encoder"])
    if model_config.get("members"):
        return encoder_model_type(model_config["members"][0])
    return str(model_config["model_type"])
