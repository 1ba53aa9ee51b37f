"""Starting the head from a linear probe: fit a linear model to the pre-trained encoder's fixed sentence
features, copy it into the head, then fine-tune everything (LP-FT, Kumar et al. 2022). The head no longer
starts random, so the first steps do not push noise back into the encoder: with few sentences it learns
faster, and the fine-tuned features drift less from the pre-trained ones."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .data import LabelledData
from .objectives import Objective

logger = logging.getLogger(__name__)

#: Sentences per batch when computing the features.
FEATURE_BATCH_SIZE = 64


def initialise_head_from_probe(
    model: Any, tokenizer: Any, data: LabelledData, objective: Objective, max_length: int
) -> bool:
    """Fit the objective's linear probe to the sentence features ``model`` feeds its head and copy it into the
    head; only sentscore's own head (:class:`~sentscore.heads.SentscoreModel`), whose input is the pooled
    sentence vector. Returns whether the head was initialised."""
    import torch

    if getattr(model.config, "model_type", None) != "sentscore":
        logger.info("The stock head reads the checkpoint's pooler: it starts random (head_init needs pooling mean)")
        return False
    features = sentence_features(model, tokenizer, data.texts, max_length)
    weight, bias = objective.linear_probe(features, data.label_ids)
    with torch.no_grad():
        model.head.weight.copy_(torch.as_tensor(weight, dtype=model.head.weight.dtype))
        model.head.bias.copy_(torch.as_tensor(bias, dtype=model.head.bias.dtype))
    logger.info("Head initialised from a linear probe of %d sentences", len(data))
    return True


def sentence_features(model: Any, tokenizer: Any, texts: list[str], max_length: int) -> np.ndarray:
    """The pooled vector the head reads for each text (no dropout, no gradient), in input order."""
    import torch

    from .heads import pool

    was_training = model.training
    model.eval()
    encoded = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([len(ids) for ids in encoded], kind="stable")
    features = np.empty((len(texts), model.head.in_features), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), FEATURE_BATCH_SIZE):
            rows = order[start : start + FEATURE_BATCH_SIZE]
            batch = tokenizer.pad({"input_ids": [encoded[i] for i in rows]}, return_tensors="pt")
            hidden = model.encoder(**batch).last_hidden_state
            features[rows] = pool(hidden, batch["attention_mask"], model.config.pooling).float().numpy()
    model.train(was_training)
    return features
