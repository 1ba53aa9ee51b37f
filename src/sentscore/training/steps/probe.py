"""The head fitted first, on the encoder's frozen sentence vectors, before fine-tuning (LP-FT: Kumar et al. 2022,
"Fine-Tuning can Distort Pretrained Features").

A new head starts from small random weights, and a few hundred fine-tuning steps at the encoder's learning rate
move it little while its gradients move the encoder; with a few labels that is most of the training. Here the
head's output layer is first fitted to convergence on the training sentences' vectors (what enters that layer,
the encoder and everything before the layer fixed, dropout off), minimising the objective's own loss plus an L2
penalty on the weights, with L-BFGS: scikit-learn's ``LogisticRegression`` at its default (C = 1) on the vectors
scaled to unit root-mean-square length, so that the penalty does not depend on how long an encoder's vectors are
(SetFit fits its head the same way, on unit-length sentence embeddings). Fine-tuning, if any, then starts from a
head that already scores.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .run import Run

logger = logging.getLogger(__name__)

#: L-BFGS iterations at most (scikit-learn's LogisticRegression stops at 100 too).
MAX_ITERATIONS = 100


def probe(run: Run) -> None:
    """The step: the output layer of ``run.model``'s head fitted on the training sentences' frozen vectors, the
    sentences read as training reads them (``train_long_texts``)."""
    from ...model.loading import pick_device
    from ..examples import tokenize_texts

    started = time.perf_counter()
    config = run.config
    examples = tokenize_texts(
        run.train_data.texts, run.train_data.label_ids, run.tokenizer, config.max_length, config.train_long_texts
    )
    layer = output_layer(run.model, run.objective.num_outputs)
    device = pick_device(config.device)
    features = layer_inputs(run.model, layer, run.tokenizer, examples, config.eval_batch_size, device)
    loss = fit_output_layer(layer, features, examples["labels"], run.objective)
    logger.info("Head fitted on frozen vectors (loss %.3f) in %.1f s", loss, time.perf_counter() - started)


def output_layer(model: Any, num_outputs: int) -> Any:
    """The linear layer that gives the head's outputs: the model's last ``nn.Linear`` as wide as the objective's
    outputs (BERT's ``classifier``, RoBERTa's ``classifier.out_proj``, sentscore's ``head``)."""
    from torch import nn

    from ...errors import SentscoreError

    found = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == num_outputs]
    if not found:
        raise SentscoreError(
            f"{type(model).__name__} has no linear output layer of {num_outputs} outputs to fit first",
            hint="Set head_first to false for this model.",
        )
    return found[-1]


def layer_inputs(model: Any, layer: Any, tokenizer: Any, examples: Any, batch_size: int, device: str) -> Any:
    """What enters ``layer`` for each tokenized example, in fp32 with dropout off, shape (len(examples),
    in_features)."""
    import torch
    from transformers import DataCollatorWithPadding

    inputs = examples.remove_columns([name for name in ("labels", "length") if name in examples.column_names])
    collate = DataCollatorWithPadding(tokenizer)
    captured: list[Any] = []
    hook = layer.register_forward_hook(lambda _module, given, _output: captured.append(given[0].detach().float()))
    was_training = model.training
    model.to(device).eval()
    try:
        with torch.no_grad():
            for start in range(0, len(inputs), batch_size):
                rows = inputs.select(range(start, min(start + batch_size, len(inputs))))
                model(**collate([dict(row) for row in rows]).to(device))
    finally:
        hook.remove()
        model.train(was_training)
    return torch.cat(captured).cpu()


def fit_output_layer(layer: Any, features: Any, label_ids: list[int], objective: Any) -> float:
    """Set ``layer``'s weight and bias to those minimising the objective's mean loss on ``features`` plus
    s²||W||² / (2n), s² the features' mean squared length (LogisticRegression's default penalty, per sentence, on
    the features divided by s); returns the loss reached."""
    import torch

    labels = torch.tensor(label_ids, dtype=torch.long)
    weight = torch.zeros(layer.out_features, layer.in_features, requires_grad=True)
    bias = torch.zeros(layer.out_features, requires_grad=True)
    penalty = float(features.pow(2).sum(dim=1).mean()) / (2 * len(labels))
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=MAX_ITERATIONS, line_search_fn="strong_wolfe")

    def closure() -> Any:
        optimizer.zero_grad()
        loss = objective.loss({"logits": features @ weight.T + bias}, labels) + penalty * weight.pow(2).sum()
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    with torch.no_grad():
        layer.weight.copy_(weight.to(layer.weight.device, layer.weight.dtype))
        layer.bias.copy_(bias.to(layer.bias.device, layer.bias.dtype))
    return float(loss.detach())
