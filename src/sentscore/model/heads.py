"""The scoring model for heads the stock classes lack: a pre-trained encoder, a pooling of its token vectors
(mean or CLS), dropout and one linear layer as wide as the objective asks.

It saves as a plain safetensors folder whose ``config.json`` the model folder guards, so that stock loaders
(``transformers.pipeline``, ``AutoModel*``, ``BertForSequenceClassification``) refuse it loudly instead of
loading a stock head with random weights (:func:`sentscore.model.stock_loaders.guarding_stock_loaders`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from .stock_loaders import HEAD_MODEL_TYPE


class SentscoreConfig(PreTrainedConfig):
    """The encoder's own config (a dict, with its ``model_type``) and the head's settings."""

    model_type = HEAD_MODEL_TYPE
    encoder: dict[str, Any] | None = None
    pooling: str = "mean"
    num_outputs: int = 5
    head_dropout: float = 0.1
    objective: str = "classification"


class SentscoreModel(PreTrainedModel):
    """Encoder -> pooling -> dropout -> linear head; outputs ``logits`` (the objective's raw outputs)."""

    config_class = SentscoreConfig
    base_model_prefix = "encoder"

    def __init__(self, config: SentscoreConfig, encoder: Any = None):
        super().__init__(config)
        if encoder is None:
            settings = dict(config.encoder or {})
            encoder = AutoModel.from_config(AutoConfig.for_model(settings.pop("model_type"), **settings))
        self.encoder = encoder
        self.dropout = nn.Dropout(config.head_dropout)
        self.head = nn.Linear(encoder.config.hidden_size, config.num_outputs)
        self.post_init()

    def _init_weights(self, module: Any) -> None:
        # Only the head is new; the encoder's weights come from its checkpoint (transformers initialises just
        # the weights missing from what it loads).
        if module is self.head:
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,  # named so that the Trainer hands labels over; the objective's loss
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**inputs).last_hidden_state
        pooled = pool(hidden, attention_mask, self.config.pooling)
        return SequenceClassifierOutput(logits=self.head(self.dropout(pooled)))


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
    """One vector per sentence: the mean of its token vectors (padding excluded), or its first token's."""
    if pooling == "cls":
        return hidden[:, 0]
    if attention_mask is None:
        return hidden.mean(dim=1)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def scoring_model(encoder: Any, pooling: str, num_outputs: int, objective: str) -> SentscoreModel:
    """A new head of ``num_outputs`` on a loaded encoder, its dropout the encoder's hidden dropout."""
    dropout = next(
        (getattr(encoder.config, key) for key in ("hidden_dropout_prob", "dropout") if hasattr(encoder.config, key)),
        0.1,
    )
    config = SentscoreConfig(
        encoder=encoder.config.to_dict(),
        pooling=pooling,
        num_outputs=num_outputs,
        head_dropout=float(dropout),
        objective=objective,
        pad_token_id=encoder.config.pad_token_id,  # the Trainer checks it against the tokenizer's
    )
    return SentscoreModel(config, encoder=encoder)
