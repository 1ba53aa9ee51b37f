"""The Hugging Face ``Trainer`` as sentscore runs it: its arguments, its metrics, and the two changes it makes."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import Trainer

from ..metrics import compute_metrics

if TYPE_CHECKING:
    from ..config import TrainConfig
    from ..data import ScoreScale
    from ..model.objectives import Objective


class SentscoreTrainer(Trainer):
    """The ``Trainer``, with two changes: length-grouped batches are ordered by the seed and the epoch alone (so
    that a resumed run sees the batches the uninterrupted one saw), and validation always scores the fp32
    model; it keeps its validations' outputs, so that the kept model's need not be scored again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: This process's latest validation of the eval set and its best, by the global step they were made at.
        self.validations: dict[int, Any] = {}

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        # No public hook sets the sampler. transformers' length-grouped sampler draws each epoch's order from the
        # global random state, which dropout moves, so a run resumed mid-epoch would skip into another order
        # than the interrupted run had; drawn from the seed and the epoch alone, the order is the same.
        from transformers.trainer_pt_utils import LengthGroupedSampler

        sampler = super()._get_train_sampler(train_dataset)
        if isinstance(sampler, LengthGroupedSampler):
            return EpochSeeded(sampler, self.args.data_seed if self.args.data_seed is not None else self.args.seed)
        return sampler

    def evaluation_loop(
        self,
        dataloader: Any,
        description: str,
        prediction_loss_only: bool | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> Any:
        # Mixed precision runs the model under autocast; validating the fp32 model, as predict and export
        # score it, makes the epoch kept and the metrics reported those that users get.
        with fp32_forward(self.model):
            output = super().evaluation_loop(
                dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix
            )
        if metric_key_prefix == "eval" and output.predictions is not None:
            # this one and the best so far (the Trainer names the best after this returns): those training may keep
            keep = {self.state.global_step, self.state.best_global_step}
            self.validations = {step: held for step, held in self.validations.items() if step in keep}
            self.validations[self.state.global_step] = output
        return output

    def kept_validation(self) -> Any | None:
        """The validation made of the model that training kept (the best one when it is loaded at the end, else
        the last), as the Trainer's ``EvalLoopOutput``; None when this process did not make it (a resumed run
        kept an epoch validated before it resumed, or the last step was not validated)."""
        best = self.state.best_global_step if self.args.load_best_model_at_end else None
        return self.validations.get(best or self.state.global_step)


class EpochSeeded:
    """A length-grouped sampler whose order for each epoch is drawn from ``seed`` + the epoch (accelerate's
    data loader tells it the epoch through ``set_epoch``), whatever the global random state."""

    def __init__(self, sampler: Any, seed: int) -> None:
        import torch

        self.sampler, self.seed, self.epoch = sampler, seed, 0
        self.sampler.generator = torch.Generator()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        self.sampler.generator.manual_seed(self.seed + self.epoch)
        return iter(self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


@contextmanager
def fp32_forward(model: Any) -> Iterator[None]:
    """Run ``model`` without the autocast wrapper that accelerate sets as the instance's ``forward`` for mixed
    precision: the class's own forward is bound in its place for the block, then the wrapper is put back."""
    if "forward" not in vars(model):
        yield
        return
    wrapped = model.forward
    model.forward = types.MethodType(type(model).forward, model)
    try:
        yield
    finally:
        model.forward = wrapped


def training_arguments(
    config: TrainConfig, checkpoint_dir: Path, device: str, n_train: int, show_progress: bool
) -> Any:
    """The ``TrainingArguments`` of ``config``: evaluation and a checkpoint every epoch, the best one kept."""
    from transformers import TrainingArguments

    from .tracking import trainer_report_to

    steps_per_epoch = max(1, -(-n_train // config.train_batch_size))
    return TrainingArguments(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=config.train_batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        num_train_epochs=config.num_train_epochs,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a share of all steps
        lr_scheduler_type="linear",
        eval_strategy="epoch",
        save_strategy="epoch",
        # the best and the newest are kept; the folder goes when training ends
        save_total_limit=2,
        save_only_model=False,  # with optimizer, schedule and random states: an interrupted run resumes
        load_best_model_at_end=True,
        metric_for_best_model=config.metric_for_best_model,
        greater_is_better=config.greater_is_better,
        logging_strategy="steps",
        logging_steps=max(1, steps_per_epoch // 10),
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=device == "cpu",
        fp16=config.fp16,
        bf16=config.bf16,
        torch_compile=config.torch_compile,
        dataloader_num_workers=0,
        dataloader_pin_memory=device == "cuda",
        report_to=trainer_report_to(config),
        run_name=config.run_name,
        disable_tqdm=not show_progress,
    )


def trainer_metrics(scale: ScoreScale, objective: Objective) -> Callable[[Any], dict[str, float]]:
    """The Trainer's ``compute_metrics``: the scalar metrics of the levels the objective's outputs predict."""

    def compute(eval_prediction: Any) -> dict[str, float]:
        predicted = objective.probabilities(eval_prediction.predictions).argmax(-1).tolist()
        metrics = compute_metrics(eval_prediction.label_ids.tolist(), predicted, scale)
        return {k: (float("nan") if v is None else v) for k, v in metrics.items() if isinstance(v, float | None)}

    return compute
