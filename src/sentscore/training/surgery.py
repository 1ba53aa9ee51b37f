"""Model surgery before fine-tuning: which weights stay fixed, which run without dropout, which form the head,
and the learning rate an encoder's width calls for."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from ..errors import SentscoreError

if TYPE_CHECKING:
    from ..config import TrainConfig

logger = logging.getLogger(__name__)


def hidden_size(model: Any) -> int | None:
    """The encoder's hidden size (transformers maps DistilBERT's ``dim`` to it too)."""
    encoder = getattr(model, "base_model", model)  # a sentscore head's config is not the encoder's
    return getattr(encoder.config, "hidden_size", None)


def default_learning_rate(model: Any) -> float:
    """The peak learning rate used when none is configured: 1e-4 for encoders narrower than BERT-base, 5e-5
    (the top of the BERT paper's range) for BERT-base and wider ones, which are more easily destabilised."""
    width = hidden_size(model)
    return 1e-4 if width is not None and width < 768 else 5e-5


def freeze_as_configured(model: Any, config: TrainConfig) -> TrainConfig:
    """Fix the weights ``config`` says not to train (``freeze_embeddings``, ``freeze_layers``); returns
    ``config`` with ``freeze_layers`` resolved to the number of layers frozen."""
    if config.freeze_embeddings:
        freeze_word_embeddings(model)
    return dataclasses.replace(config, freeze_layers=freeze_lower_layers(model, config.freeze_layers))


def freeze_word_embeddings(model: Any) -> None:
    """Stop training the word-embedding matrix: for a pre-trained encoder it is the largest single weight,
    and its gradient and optimizer state cost memory and time while fine-tuning it barely changes the result."""
    model.get_input_embeddings().weight.requires_grad_(False)


def freeze_lower_layers(model: Any, count: int | None) -> int:
    """Stop training the ``count`` lowest encoder layers (None: a third of them, rounded down) and the
    embeddings' position and layer-norm weights; the word-embedding matrix keeps its own setting. With nothing
    below them to train, backpropagation stops at the first trained layer, which is where the time is saved.
    Returns the number of layers frozen."""
    if count == 0:
        return 0
    try:
        layers = encoder_layers(model)
    except SentscoreError:
        if count is not None:
            raise
        logger.info("Training every layer: cannot find the encoder layers of %s", type(model).__name__)
        return 0
    if count is None:
        count = len(layers) // 3
    if count > len(layers):
        raise SentscoreError(
            f"freeze_layers is {count}, but the model has only {len(layers)} encoder layers",
            hint=f"Use a value from 0 to {len(layers) - 1} (0 trains every layer).",
        )
    if count:
        embeddings = model.base_model.embeddings
        word_embeddings = model.get_input_embeddings().weight
        for weight in embeddings.parameters():
            if weight is not word_embeddings:
                weight.requires_grad_(False)
        for layer in layers[:count]:
            layer.requires_grad_(False)
            switch_off_dropout(layer)
        if not word_embeddings.requires_grad:
            switch_off_dropout(embeddings)
        logger.info("Encoder layers 1-%d of %d stay fixed (freeze_layers)", count, len(layers))
    return count


def switch_off_dropout(module: Any) -> None:
    """Run ``module`` without dropout while training, as at inference: the weights of a fixed layer do not
    change, so its dropout only adds noise to what the trained layers see, and drawing the masks costs time."""
    from torch import nn

    for each in module.modules():
        if isinstance(each, nn.Dropout):
            each.p = 0.0


def encoder_layers(model: Any) -> Any:
    """The encoder's stack of transformer layers (``encoder.layer`` in BERT, ``transformer.layer`` in
    DistilBERT): the module list with as many entries as the config has hidden layers."""
    from torch import nn

    depth = model.base_model.config.num_hidden_layers
    for module in model.base_model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == depth:
            return module
    raise SentscoreError(
        f"cannot find the encoder layers of {type(model).__name__} to freeze",
        hint="Set freeze_layers to 0 for this model.",
    )
