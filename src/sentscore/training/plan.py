"""``dry_run()``: what a training would do, without training. The data is read and checked, every default is
resolved as ``train`` resolves it (the same functions), and a few training steps are timed on batches drawn
across the data's lengths, so that the time an epoch takes on this machine is measured, not guessed.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import TrainConfig
from .examples import count_long_texts, tokenized, with_size_defaults
from .recipe import build_model, build_objective, checked, with_default_objective
from .steps.distillation import training_loss
from .steps.run import Run

#: Batches timed for the estimate, one from each sixth of the batches by length (each run once untimed first).
TIMED_BATCHES = 6


@dataclass
class TrainPlan:
    """A training as it would run: the resolved config, the data it reads and the time it should take."""

    config: TrainConfig  # resolved, as sentscore.json would record it
    train_samples: int
    validation_samples: int
    validation_from: str  # the validation file, or the share of the training file held out
    level_counts: dict[str, tuple[int, int]]  # level -> (training rows, validation rows)
    long_texts: dict[str, int]
    device: str
    steps_per_epoch: int
    seconds_per_epoch: float  # training steps and validation, measured on a few batches
    validation_seconds: float  # one pass over the validation set
    unlabelled_samples: int = 0  # sentences without a score the teacher would score (not timed)
    test_samples: int | None = None  # sentences of the test file, scored once at the end
    contrastive_seconds: float = 0.0  # the contrastive steps (refit: twice), from the timed training steps

    @property
    def seconds(self) -> float:
        """Every epoch of every ensemble member, the contrastive steps, and the kept model's validation pass for
        calibration (the teacher's scoring not included)."""
        epochs = self.seconds_per_epoch * float(self.config.num_train_epochs) * self.config.ensemble
        return epochs + self.contrastive_seconds * self.config.ensemble + self.validation_seconds


def dry_run(config: TrainConfig, tune_process: Callable[[TrainConfig], None] | None = None) -> TrainPlan:
    """What ``train(config)`` would read, resolve and take per epoch, without training or writing anything;
    ``tune_process`` as :func:`~sentscore.training.recipe.train` takes it."""
    from ..model.loading import pick_device
    from .runtime import torch_threads

    config, _, run = checked(config, show_progress=False)  # as train checks it, first
    test = run.test_data
    if tune_process is not None:
        tune_process(config)
    with torch_threads(config.num_threads):
        run = as_taught(run)
        train_data, validation = run.train_data, run.validation_data
        config = with_default_objective(with_size_defaults(config, run), train_data.scale)
        run.objective = build_objective(config, train_data)
        run.model, run.tokenizer, run.config = build_model(config, train_data.scale, run.objective)
        config, tokenizer = run.config, run.tokenizer
        long_texts = count_long_texts(tokenizer, train_data, validation, config.max_length, config.train_long_texts)
        train_set, eval_set = tokenized(run)
        device = pick_device(config.device)
        train_seconds, steps = timed_pass(run, train_set, config.train_batch_size, device, train=True)
        eval_seconds, _ = timed_pass(run, eval_set, config.eval_batch_size, device, train=False)
    refit = len(validation) if config.refit else 0
    contrastive = contrastive_estimate(config, len(train_data), refit, train_seconds / max(1, steps))
    counts = Counter(train_data.label_ids), Counter(validation.label_ids)
    return TrainPlan(
        config,
        len(train_data),
        len(validation),
        config.validation_file or f"{config.validation_fraction:.0%} of {config.train_file}, stratified",
        {label: (counts[0][i], counts[1][i]) for i, label in enumerate(train_data.scale.labels)},
        long_texts,
        device,
        steps,
        train_seconds + eval_seconds,
        eval_seconds,
        run.train_sentences - len(train_data),
        len(test) if test is not None else None,
        contrastive,
    )


def contrastive_estimate(config: TrainConfig, sentences: int, refit: int, step_seconds: float) -> float:
    """The seconds of the contrastive step (and of its refit on ``refit`` more sentences): a batch of pairs is two
    batches of sentences through the encoder, each about a training step's work."""
    if not config.contrastive_pairs:
        return 0.0
    pairs = config.contrastive_pairs * (sentences + (sentences + refit if refit else 0))
    return 2 * -(-pairs // config.train_batch_size) * step_seconds


def as_taught(run: Run) -> Run:
    """``run`` with a teacher's data as it would train: the unlabelled sentences read and checked, and every
    sentence given a uniform distribution in place of the teacher's (the time a step takes does not depend on
    it); the teacher folder is checked to load and score the same levels."""
    from .steps.teacher import read_unlabelled, teacher_scorer

    if not run.config.teacher:
        return run
    train_data = run.train_data
    teacher_scorer(run.config.teacher, train_data)
    uniform = [1 / len(train_data.scale)] * len(train_data.scale)
    run.train_data = dataclasses.replace(train_data, teacher_probs=[uniform] * len(train_data))
    found = read_unlabelled(run)
    if found is not None:
        run.unlabelled = dataclasses.replace(found, teacher_probs=[uniform] * len(found))
    return run


def timed_pass(run: Run, examples: Any, batch_size: int, device: str, train: bool) -> tuple[float, int]:
    """The seconds one pass over ``examples`` takes (training steps, or validation), from a few batches spread
    over the pass's lengths, and the number of batches in it."""
    lengths = list(examples["length"])
    batches = pass_batches(lengths, batch_size, run.config.group_by_length and train, run.config.seed)
    by_padded_length = sorted(batches, key=lambda indices: max(lengths[i] for i in indices))
    strata = min(TIMED_BATCHES, len(batches))
    spread = [by_padded_length[int((k + 0.5) * len(batches) / strata)] for k in range(strata)]
    step = training_step(run, device) if train else validation_step(run, device)
    times = []
    for indices in spread:
        step(collated(run.tokenizer, examples, indices, device))  # a shape's first run costs more (kernels chosen)
        started = time.perf_counter()
        step(collated(run.tokenizer, examples, indices, device))
        times.append(time.perf_counter() - started)
    return sum(times) / len(times) * len(batches), len(batches)


def pass_batches(lengths: list[int], batch_size: int, by_length: bool, seed: int) -> list[list[int]]:
    """The batches of a pass, as index lists: length-grouped as the Trainer groups them when ``by_length``,
    else in a seeded random order (validation: in the order given)."""
    import torch
    from transformers.trainer_pt_utils import get_length_grouped_indices

    if by_length:
        order = get_length_grouped_indices(lengths, batch_size, generator=torch.Generator().manual_seed(seed))
    else:
        order = list(range(len(lengths)))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collated(tokenizer: Any, examples: Any, indices: list[int], device: str) -> dict[str, Any]:
    from transformers import DataCollatorWithPadding

    rows = examples.select(indices).remove_columns(["length"])
    batch = DataCollatorWithPadding(tokenizer)([dict(row) for row in rows])
    return {key: value.to(device) for key, value in batch.items()}


def training_step(run: Run, device: str) -> Any:
    """One optimizer step as training takes it: forward under the run's precision, the objective's loss,
    backward, gradient clipping, AdamW."""
    import torch

    model = run.model.to(device).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=run.config.learning_rate)
    precision = torch.bfloat16 if run.config.bf16 else torch.float16
    mixed = bool(run.config.bf16 or run.config.fp16)

    def step(batch: dict[str, Any]) -> None:
        labels = batch.pop("labels")
        with torch.autocast(device_type=device, dtype=precision, enabled=mixed):
            outputs = model(**batch)
        training_loss(run)(outputs, labels).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # the Trainer's max_grad_norm
        optimizer.step()
        optimizer.zero_grad()
        batch["labels"] = labels

    return step


def validation_step(run: Run, device: str) -> Any:
    """One validation batch: the fp32 model's forward pass, as validation scores it."""
    import torch

    def step(batch: dict[str, Any]) -> None:
        run.model.eval()
        with torch.no_grad():
            run.model(**{key: value for key, value in batch.items() if key != "labels"})

    return step
