"""What the training benchmarks measure, alike for sentscore and the reference recipe: peak memory, real
tokens, matrix-product FLOPs per token, and the dev-accuracy clock behind time-to-accuracy."""

from __future__ import annotations

import math
import resource
import time
from typing import Any

import numpy as np

#: Sentences per batch when the clock scores the dev set.
DEV_BATCH_SIZE = 64


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def count_real_tokens(tokenizer: Any, texts: list[str], max_length: int) -> int:
    return sum(len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"])


def non_embedding_params(model: Any) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)


def training_flops_per_token(model: Any) -> int:
    """Matrix-product FLOPs one real token costs in a training step, for the model as set up to train:
    per weight, 2 forward, 2 for the gradient of its input and 2 for its own gradient (6 x the
    non-embedding parameters). Encoder layers frozen below every trained weight (embeddings included) run
    forward only: backprop stops at the lowest trained layer, so counting 6 for them would credit work that
    is never done."""
    if any(w.requires_grad for w in model.base_model.embeddings.parameters()):
        return 6 * non_embedding_params(model)
    frozen_below = 0
    for layer in model.base_model.encoder.layer:  # the bundled model is a BERT: its layers are encoder.layer
        weights = list(layer.parameters())
        if any(w.requires_grad for w in weights):
            break
        frozen_below += sum(w.numel() for w in weights)
    return 6 * non_embedding_params(model) - 4 * frozen_below


def five_level_objective() -> Any:
    """The objective both runs train with on a 5-level scale: one logit per level, softmax probabilities
    (sentscore's classification objective; the recipe's cross-entropy head)."""
    from sentscore.model.objectives import objective_from_record

    return objective_from_record("classification", 5)


class DevAccuracyClock:
    """A TrainerCallback factory: training time excluding the dev evaluations and Trainer evaluations,
    with the dev accuracy recorded every quarter epoch (the time-to-accuracy curve). ``objective`` turns the
    model's outputs into probabilities over the levels."""

    evals_per_epoch = 4

    def __init__(self, dev_texts: list[str], dev_labels: list[int], tokenizer: Any, max_length: int, objective: Any):
        self.points: list[dict[str, float]] = []
        self.train_seconds = 0.0
        self.callback = self._callback()
        self.dev_texts, self.dev_labels = dev_texts, np.asarray(dev_labels)
        self.tokenizer, self.max_length, self.objective = tokenizer, max_length, objective

    def _callback(self) -> Any:
        from transformers import TrainerCallback

        outer = self

        class Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                outer._started = time.perf_counter()
                evals = args.num_train_epochs * outer.evals_per_epoch
                every = state.max_steps / evals
                steps = {min(state.max_steps, max(1, round(every * k))) for k in range(1, math.ceil(evals) + 1)}
                outer._checkpoints = sorted(steps)

            def on_step_end(self, args, state, control, model=None, **kwargs):
                due = [step for step in outer._checkpoints if step <= state.global_step]
                if due:
                    outer._checkpoints = outer._checkpoints[len(due) :]
                    outer.record(state, model)

            def on_evaluate(self, args, state, control, **kwargs):
                outer._started = time.perf_counter()  # the Trainer's own evaluation is not training time

            def on_save(self, args, state, control, **kwargs):
                outer._started = time.perf_counter()  # nor is writing a checkpoint

        return Callback()

    def record(self, state: Any, model: Any) -> None:
        """Stop the clock, score the dev set with the current weights, restart the clock."""
        self.train_seconds += time.perf_counter() - self._started
        accuracy = self.dev_accuracy(model)
        self.points.append({"epoch": float(state.epoch), "train_seconds": self.train_seconds, "dev_accuracy": accuracy})
        self._started = time.perf_counter()

    def dev_accuracy(self, model: Any) -> float:
        return float(np.mean(self.dev_probabilities(model).argmax(axis=1) == self.dev_labels))

    def dev_probabilities(self, model: Any) -> np.ndarray:
        """Probabilities over the levels of every dev sentence, scored in fp32 in length-sorted batches."""
        import torch

        was_training = model.training
        model.eval()
        order = np.argsort([len(t) for t in self.dev_texts])
        probabilities = None
        with torch.inference_mode():
            for start in range(0, len(order), DEV_BATCH_SIZE):
                idx = order[start : start + DEV_BATCH_SIZE]
                batch = self.probabilities(model, [self.dev_texts[i] for i in idx])
                if probabilities is None:
                    probabilities = np.empty((len(order), batch.shape[1]), dtype=np.float32)
                probabilities[idx] = batch
        if was_training:
            model.train()
        return probabilities

    def probabilities(self, model: Any, texts: list[str]) -> np.ndarray:
        """Probabilities over the levels of each text, scored in fp32 as predict scores."""
        batch = self.tokenizer(
            texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
        ).to(model.device)
        # The class's forward, not the instance's: that skips the autocast wrapper accelerate installs for bf16.
        logits = type(model).forward(model, **batch).logits
        return self.objective.probabilities(logits.float().cpu().numpy())
