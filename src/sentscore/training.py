"""Fine-tuning on the Hugging Face ``Trainer`` and writing the self-describing output directory."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from .config import TrainConfig
from .data import LabelledData, ScoreScale, load_labelled, split
from .errors import SentscoreError
from .metrics import compute_metrics, majority_baseline
from .models import load_for_training, pick_device, quiet_transformers
from .outputs import CHECKPOINT_DIR, METRICS_FILE, SENTSCORE_FILE, check_can_write

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    output_dir: Path
    metrics: dict[str, Any]
    baseline: dict[str, Any]
    epochs: list[dict[str, Any]]
    train_seconds: float
    train_samples: int
    validation_samples: int


def prepare_data(config: TrainConfig) -> tuple[LabelledData, LabelledData]:
    """Load the training file and a validation set (a file, or a stratified split), checked together."""
    data = load_labelled(config.train_file, config.text_column, config.score_column, config.num_labels, config.labels)
    if config.validation_file:
        validation = load_labelled(config.validation_file, config.text_column, config.score_column, scale=data.scale)
        return data, validation
    return split(data, config.validation_fraction, config.seed)


def tokenize(data: LabelledData, tokenizer: Any, max_length: int) -> Any:
    """Tokenize once, up front, with the fast tokenizer; keep lengths for length-grouped batching."""
    from datasets import Dataset

    encoded = tokenizer(data.texts, truncation=True, max_length=max_length)
    columns = {key: encoded[key] for key in encoded}
    columns["labels"] = data.label_ids
    columns["length"] = [len(ids) for ids in encoded["input_ids"]]
    return Dataset.from_dict(columns)


def train(config: TrainConfig, show_progress: bool = True, callbacks: list[Any] | None = None) -> TrainResult:
    """Fine-tune ``config.model_name`` on ``config.train_file`` and write ``config.output_dir``.

    Refuses to replace a trained model already in ``output_dir`` unless ``config.overwrite``.
    ``show_progress`` shows progress bars for the epochs; ``callbacks`` are extra ``TrainerCallback``s.
    """
    import torch
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, set_seed

    config.validate()  # a TrainConfig built in Python has not been checked yet
    output_dir = Path(config.output_dir)
    check_can_write(output_dir, config.overwrite)
    train_data, validation_data = prepare_data(config)
    scale = train_data.scale
    _warn_missing_levels(train_data)
    if not scale.is_numeric and config.metric_for_best_model not in ("accuracy", "macro_f1", "loss"):
        raise SentscoreError(
            f"metric_for_best_model '{config.metric_for_best_model}' needs numeric scores, but the labels are "
            f"text ({', '.join(scale.labels)})",
            hint="Use accuracy, macro_f1 or loss, or give numeric scores.",
        )

    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    set_seed(config.seed)
    device = pick_device(config.device)
    tokenizer, model = load_for_training(config.model_name, scale, config.dropout, config.attention_dropout)
    if config.learning_rate is None:
        config = dataclasses.replace(config, learning_rate=default_learning_rate(model))
        logger.info("Learning rate %g (the default for a hidden size of %s)", config.learning_rate, hidden_size(model))
    config = with_resolved_precision(config, device)
    freeze_as_configured(model, config)
    train_set = tokenize(train_data, tokenizer, config.max_length)
    eval_set = tokenize(validation_data, tokenizer, config.max_length)
    logger.info(
        "Training %s on %d sentences, validating on %d (%d levels: %s), device %s",
        config.model_name,
        len(train_set),
        len(eval_set),
        len(scale),
        ", ".join(scale.labels),
        device,
    )

    args = _training_arguments(config, output_dir / CHECKPOINT_DIR, device, len(train_set), show_progress)
    callbacks = [GpuMemoryLogger(), ReleaseFreedMemory(), *(callbacks or [])]
    if config.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    trainer = SentscoreTrainer(
        head_learning_rate=config.head_learning_rate,
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=_trainer_metrics(scale),
        compute_loss_func=_weighted_loss(train_data) if config.class_weights else None,
        callbacks=callbacks,
    )
    for noisy in (ProgressCallback, PrinterCallback):
        trainer.remove_callback(noisy)
    if show_progress:
        trainer.add_callback(ProgressBars())
    trainer.add_callback(EpochLogger(config.metric_for_best_model))
    # The epoch bars stay; transformers' bars for writing and reading checkpoints go.
    with quiet_transformers():
        started = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - started

        prediction = trainer.predict(eval_set)
        # The Trainer evaluates in length-grouped order, so compare with the labels it returns, not ours.
        final = compute_metrics(prediction.label_ids.tolist(), prediction.predictions.argmax(-1).tolist(), scale)
        final["loss"] = float(prediction.metrics.get("test_loss", float("nan")))
        baseline = majority_baseline(train_data.label_ids, validation_data.label_ids, scale)
        epochs = _epoch_history(trainer.state.log_history)
        result = TrainResult(output_dir, final, baseline, epochs, train_seconds, len(train_set), len(eval_set))
        _save(trainer, tokenizer, config, scale, result)
    return result


def default_learning_rate(model: Any) -> float:
    """The peak learning rate used when none is configured: 1e-4 for encoders narrower than BERT-base,
    5e-5 (the top of the BERT paper's range) for BERT-base and wider ones, which are more easily destabilised.
    On SST-5 with the bundled MiniLM (hidden size 384), 1e-4 reached the reference recipe's dev accuracy at
    1.25 epochs for each of 3 seeds where 5e-5 needed 1.25-1.75, and kept models as accurate (mean 0.4738
    against 0.4708; bench/results/experiments/)."""
    width = hidden_size(model)
    return 1e-4 if width is not None and width < 768 else 5e-5


def bf16_by_default(device: str, config: TrainConfig) -> bool:
    """Whether to train in mixed precision bf16 when ``bf16`` is not configured: only on a CPU that multiplies
    bf16 natively, where a 2048x2048 product ran 2.3x faster than fp32 and MiniLM's training steps ~1.3x
    faster. Without those instructions bf16 products are emulated: with oneDNN capped to AVX-512 they ran at
    half fp32's speed, capped to AVX2 fifty times slower. GPUs keep the framework's fp32 default unless asked.
    Never together with ``fp16``."""
    return device == "cpu" and not config.fp16 and cpu_has_native_bf16()


def with_resolved_precision(config: TrainConfig, device: str) -> TrainConfig:
    """``config`` with ``bf16`` decided (:func:`bf16_by_default` when unset), and the CPU set up for it."""
    if config.bf16 is None:
        config = dataclasses.replace(config, bf16=bf16_by_default(device, config))
    if config.bf16 and device == "cpu":
        if not cpu_has_native_bf16():
            logger.warning(
                "bf16 was asked for, but this CPU has no native bf16 instructions: training will be much slower "
                "than in fp32. Set bf16 to false (or leave it unset) to train in fp32."
            )
        prepare_cpu_for_bf16()
    if config.bf16:
        logger.info("Mixed precision bf16: matrix products in bf16, weights and optimizer state in fp32")
    return config


#: oneDNN primitives kept for reuse when training in bf16 on a CPU (see limit_onednn_primitive_cache).
ONEDNN_PRIMITIVE_CACHE_CAPACITY = 32

#: Size from which glibc gives an allocation its own memory mapping (see fix_malloc_mmap_threshold).
MALLOC_MMAP_THRESHOLD = 4 * 1024 * 1024


def prepare_cpu_for_bf16() -> None:
    """Process-wide settings under which bf16 training on a CPU is both fast and lean; each is skipped when
    the user set it in the environment."""
    limit_onednn_primitive_cache()
    fix_malloc_mmap_threshold()


def limit_onednn_primitive_cache() -> None:
    """Keep oneDNN's cache of bf16 matmul primitives to about one training step's worth. Building a primitive
    (which compiles its kernels) for every product made an epoch of MiniLM on SST-5 take ~20% longer than with
    32 entries; the default 1024 entries, filled by the many batch shapes of dynamic padding, held ~270 MB more
    at the peak (bench/results/experiments/). With 32, the few shapes of a step's products (the same in every
    layer, forward and backward) are built once per step instead of once per layer. oneDNN reads the variable
    when it first builds a primitive, so it applies in a process that has not multiplied in bf16 yet; a value
    already in the environment is left alone."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(ONEDNN_PRIMITIVE_CACHE_CAPACITY))


def fix_malloc_mmap_threshold() -> None:
    """Give allocations of 4 MiB and more their own memory mapping, returned to the system when freed.
    glibc raises this threshold each time such a block is freed (up to 32 MiB), after which the activations
    of batches of varying length are carved out of the heap and leave it fragmented: resident memory crept up
    by ~250 MB over an epoch, and cached oneDNN primitives lodged among them kept more of it. With the
    threshold fixed, an epoch with 16 or 32 cached primitives peaked at 1114-1122 MB, against ~1270 MB with
    16 and glibc's own threshold, at the same speed (bench/results/experiments/). Skipped where the C library
    has no ``mallopt`` (not glibc) or MALLOC_MMAP_THRESHOLD_ is set (glibc then read it already)."""
    import ctypes

    mallopt = c_library_function("mallopt")
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or mallopt is None:
        return
    m_mmap_threshold = -3  # from glibc's malloc.h
    if not mallopt(ctypes.c_int(m_mmap_threshold), ctypes.c_int(MALLOC_MMAP_THRESHOLD)):
        logger.debug("mallopt(M_MMAP_THRESHOLD) refused; allocator left as it is")


def c_library_function(name: str) -> Any:
    """The C library's function ``name`` (glibc's malloc tuning), or None where the library has none."""
    import ctypes
    import ctypes.util

    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 dot-product instructions (AVX512-BF16) or AMX tiles, which oneDNN uses."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private, hence looked up with care
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def hidden_size(model: Any) -> int | None:
    """The encoder's hidden size (transformers maps DistilBERT's ``dim`` to it too)."""
    return getattr(model.config, "hidden_size", None)


def freeze_word_embeddings(model: Any) -> None:
    """Stop training the word-embedding matrix: for a pre-trained encoder it is the largest single weight
    (a third of MiniLM's, a fifth of BERT-base's), and its gradient and optimizer state cost memory and
    time while fine-tuning it barely changes the result."""
    model.get_input_embeddings().weight.requires_grad_(False)


def freeze_as_configured(model: Any, config: TrainConfig) -> None:
    """Fix the weights ``config`` says not to train (``freeze_embeddings``, ``freeze_layers``)."""
    if config.freeze_embeddings:
        freeze_word_embeddings(model)
    freeze_lower_layers(model, config.freeze_layers)


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
    """Run ``module`` without dropout while training, as at inference. The weights of a fixed layer do not
    change, so its dropout only adds noise to what the trained layers see, while drawing the masks is a tenth
    of a CPU training step. On SST-5 over 3 seeds the kept models were as accurate without it
    (bench/results/experiments/)."""
    from torch import nn

    for each in module.modules():
        if isinstance(each, nn.Dropout):
            each.p = 0.0


def encoder_layers(model: Any) -> Any:
    """The encoder's stack of transformer layers (``encoder.layer`` in BERT, ``transformer.layer`` in
    DistilBERT): the module list with as many entries as the config has hidden layers."""
    from torch import nn

    depth = model.config.num_hidden_layers
    for module in model.base_model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == depth:
            return module
    raise SentscoreError(
        f"cannot find the encoder layers of {type(model).__name__} to freeze",
        hint="Set freeze_layers to 0 for this model.",
    )


def _training_arguments(
    config: TrainConfig, checkpoint_dir: Path, device: str, n_train: int, show_progress: bool
) -> Any:
    from transformers import TrainingArguments

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
        save_total_limit=1,  # the best and the latest are kept; the folder is removed after training
        save_only_model=True,  # no optimizer state: saving is fast and checkpoints small
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
        report_to="none",
        disable_tqdm=not show_progress,
    )


def _trainer_metrics(scale: ScoreScale):
    def compute(eval_prediction: Any) -> dict[str, float]:
        predicted = eval_prediction.predictions.argmax(-1).tolist()
        metrics = compute_metrics(eval_prediction.label_ids.tolist(), predicted, scale)
        return {k: (float("nan") if v is None else v) for k, v in metrics.items() if isinstance(v, float | None)}

    return compute


def _weighted_loss(train_data: LabelledData):
    """Cross-entropy weighted by inverse class frequency ("balanced", as scikit-learn defines it)."""
    import numpy as np
    import torch

    counts = np.bincount(train_data.label_ids, minlength=len(train_data.scale)).astype(float)
    weights = np.where(counts > 0, counts.sum() / (len(counts) * np.maximum(counts, 1)), 0.0)
    weight_tensor = torch.tensor(weights, dtype=torch.float32)
    logger.info("Class weights: %s", dict(zip(train_data.scale.labels, weights.round(3).tolist(), strict=True)))

    def loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        per_item = torch.nn.functional.cross_entropy(
            logits.float(), labels, weight=weight_tensor.to(logits.device), reduction="none"
        )
        if num_items_in_batch is not None:
            return per_item.sum() / num_items_in_batch
        return per_item.mean()

    return loss


def _warn_missing_levels(data: LabelledData) -> None:
    present = set(data.label_ids)
    missing = [label for i, label in enumerate(data.scale.labels) if i not in present]
    if missing:
        logger.warning("No training rows have the score(s) %s; the model cannot learn to predict them", missing)


def _epoch_history(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per epoch: the evaluation metrics and the mean training loss since the last evaluation."""
    epochs, losses = [], []
    for entry in log_history:
        if "loss" in entry:
            losses.append(entry["loss"])
        if "eval_loss" in entry:
            row = {"epoch": round(entry["epoch"], 2), "step": entry["step"]}
            row["train_loss"] = sum(losses) / len(losses) if losses else None
            row.update({k.removeprefix("eval_"): v for k, v in entry.items() if k.startswith("eval_")})
            epochs.append(row)
            losses = []
    return epochs


def _save(
    trainer: Any,
    tokenizer: Any,
    config: TrainConfig,
    scale: ScoreScale,
    result: TrainResult,
) -> None:
    from . import __version__
    from .report import write_report

    output_dir = result.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(output_dir))  # safetensors weights + config.json with id2label/label2id
    # Saved so that pipeline() and Scorer truncate exactly as training did (the recipe used 512 vs 128).
    tokenizer.model_max_length = config.max_length
    tokenizer.save_pretrained(str(output_dir))
    for leftover in ("training_args.bin",):
        (output_dir / leftover).unlink(missing_ok=True)
    shutil.rmtree(output_dir / CHECKPOINT_DIR, ignore_errors=True)

    info = {
        "sentscore_version": __version__,
        "labels": list(scale.labels),
        "numeric": scale.is_numeric,
        "max_length": config.max_length,
        "base_model": config.model_name,
        "text_column": config.text_column,
        "score_column": config.score_column,
        "train_file": os.path.basename(config.train_file),
        "validation_file": os.path.basename(config.validation_file) if config.validation_file else None,
        "train_samples": result.train_samples,
        "validation_samples": result.validation_samples,
        "train_seconds": round(result.train_seconds, 2),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": config.to_dict(),
    }
    (output_dir / SENTSCORE_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    metrics = {
        "primary_metric": config.metric_for_best_model,
        "final": result.metrics,
        "majority_baseline": result.baseline,
        "epochs": result.epochs,
    }
    (output_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    write_report(output_dir, info, metrics, scale)
    logger.debug("Saved the model to %s", output_dir)  # the CLI's summary says so; TrainResult has the path


class SentscoreTrainer(Trainer):
    """The ``Trainer``, with two changes: the classification head (every weight outside the pre-trained
    encoder) is optimised at its own peak learning rate when one is given (the schedule scales both rates
    alike), and validation always scores the fp32 model."""

    def __init__(self, *args: Any, head_learning_rate: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_learning_rate = head_learning_rate

    def evaluation_loop(self, *args: Any, **kwargs: Any) -> Any:
        # Mixed precision runs the model under autocast; validating the fp32 model, as predict and export
        # score it, makes the epoch kept and the metrics reported those that users get (bf16 validation
        # flipped near-tied predictions).
        with fp32_forward(self.model):
            return super().evaluation_loop(*args, **kwargs)

    def create_optimizer(self, model: Any = None) -> Any:
        if self.head_learning_rate is None or self.optimizer is not None:
            return super().create_optimizer(model)
        optimizer = super().create_optimizer(model)
        head = {id(w) for w in head_parameters(self.model if model is None else model)}
        for group in list(optimizer.param_groups):
            in_head = [w for w in group["params"] if id(w) in head]
            if in_head:
                group["params"] = [w for w in group["params"] if id(w) not in head]
                settings = {k: v for k, v in group.items() if k not in ("params", "lr")}
                optimizer.add_param_group({**settings, "params": in_head, "lr": self.head_learning_rate})
        optimizer.param_groups[:] = [group for group in optimizer.param_groups if group["params"]]
        return optimizer


@contextmanager
def fp32_forward(model: Any) -> Iterator[None]:
    """Run ``model`` without the autocast wrapper that accelerate puts around its forward for mixed precision
    (keeping the original as ``_original_forward``, which its own ``unwrap_model`` restores the same way)."""
    original = model.__dict__.get("_original_forward")
    if original is None:
        yield
        return
    wrapped = model.forward
    model.forward = original
    try:
        yield
    finally:
        model.forward = wrapped


def head_parameters(model: Any) -> list[Any]:
    """The weights outside the pre-trained encoder: the classification head added for fine-tuning."""
    prefix = f"{model.base_model_prefix}."
    return [w for name, w in model.named_parameters() if not name.startswith(prefix)]


class GpuMemoryLogger(TrainerCallback):
    """Logs the GPU's name and memory at the start of every epoch (CUDA only), as the recipe did."""

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        import torch

        if not torch.cuda.is_available():
            return
        device = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(device)
        gib = 1024**3
        logger.info(
            "Epoch %d on GPU %s: %.2f GiB allocated, %.2f GiB reserved, %.2f GiB total",
            int(state.epoch or 0) + 1,
            props.name,
            torch.cuda.memory_allocated(device) / gib,
            torch.cuda.memory_reserved(device) / gib,
            props.total_memory / gib,
        )


class ReleaseFreedMemory(TrainerCallback):
    """Hands the memory freed by training back to the operating system after each evaluation and save.

    Batches of varying length leave glibc's heap fragmented, so a CPU run's resident memory creeps up over
    an epoch (measured on SST-5: 870 MB after the first step, 1150 MB by the epoch's end), and the end of
    training (best-model reload, final evaluation, save) stacked on top of it: trimming at the epoch boundary
    lowered the peak by 85 MB. Trimming every few steps lowered it by 50 MB more but cost 6% of the speed,
    so it is not done. A no-op where the C library has no malloc_trim.
    """

    def __init__(self) -> None:
        self._trim = c_library_function("malloc_trim")

    def release(self) -> None:
        import gc

        gc.collect()
        if self._trim is not None:
            self._trim(0)

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.release()

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.release()


class ProgressBars(ProgressCallback):
    """The Trainer's progress bars without the dict it prints every few steps (EpochLogger says less, better)."""

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        pass


class EpochLogger(TrainerCallback):
    """One log line per epoch with the validation loss and the metric that picks the best model."""

    def __init__(self, metric: str):
        self.metric = metric

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if logs and "eval_loss" in logs:
            value = logs.get(f"eval_{self.metric}", logs["eval_loss"])
            logger.info(
                "Epoch %.0f: validation loss %.4f, %s %.4f", logs.get("epoch", 0), logs["eval_loss"], self.metric, value
            )
