"""From files to the Trainer's examples: the data read and split, the epochs a training set of its size needs,
and texts tokenized (long ones cut, or read in windows)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from ..config import TrainConfig
from ..data import LabelledData, load_labelled, split
from ..data.labelled import all_of
from ..errors import SentscoreError
from ..scoring.backends import SPECIAL_TOKENS, window_overlap
from .steps.distillation import labels_with_teacher, unlabelled_rows
from .steps.run import Run

logger = logging.getLogger(__name__)


#: Whose scale a validation or test file is checked against.
TRAINING_FILE = "the training file"


def prepare_data(config: TrainConfig) -> tuple[LabelledData, LabelledData, LabelledData | None]:
    """The training file, a validation set (a file, or a stratified split) and the test file (None without one),
    read and checked together before anything trains: the problems of every file in one message. A warning
    when the test file holds training or validation sentences."""
    data, validation, test = _read_files(config)
    if validation is None:
        data, validation = split(data, config.validation_fraction, config.seed)
    _warn_missing_levels(data)
    _warn_missing_levels(validation, "validation")
    _warn_shared_sentences(data, validation, config)
    if not data.scale.is_numeric and config.metric_for_best_model not in ("accuracy", "macro_f1", "loss"):
        raise SentscoreError(
            f"metric_for_best_model '{config.metric_for_best_model}' needs numeric scores, but the labels are "
            f"text ({', '.join(data.scale.labels)})",
            hint="Use accuracy, macro_f1 or loss, or give numeric scores.",
        )
    if test is not None:
        _warn_test_seen(test, data, validation, config)
    return data, validation, test


def _read_files(config: TrainConfig) -> tuple[LabelledData, LabelledData | None, LabelledData | None]:
    """The labelled files the config names, each read; a validation or test file is checked against the
    training file's scale, or on its own where the training file could not be read."""
    problems: list[SentscoreError] = []
    columns = config.text_column, config.score_column

    def read(path: str | None, scale: Any = None) -> LabelledData | None:
        if not path:
            return None
        given = {"scale": scale, "scale_from": TRAINING_FILE} if scale else {"num_labels": config.num_labels}
        try:
            return load_labelled(path, *columns, labels=None if scale else config.labels, **given)
        except SentscoreError as problem:
            problems.append(problem)
            return None

    data = read(config.train_file)
    scale = data.scale if data is not None else None
    validation, test = read(config.validation_file, scale), read(config.test_file, scale)
    if problems:
        raise all_of(problems)
    assert data is not None
    return data, validation, test


def _warn_test_seen(test: LabelledData, data: LabelledData, validation: LabelledData, config: TrainConfig) -> None:
    from ..data.seen import fingerprint, seen_positions

    seen = seen_positions(test.texts, fingerprint([*data.texts, *validation.texts]))
    if seen:
        logger.warning(
            "%d of the %d sentences of the test file %s are also training or validation sentences: its figures "
            "will flatter the model by that much (a test file should hold only sentences the model never sees)",
            len(seen),
            len(test),
            config.test_file,
        )


def validation_shared(data: LabelledData, validation: LabelledData) -> int:
    """How many validation sentences are training sentences too (a validation_file sharing rows with train_file,
    or a sentence in several rows of it)."""
    from ..data.seen import fingerprint, seen_positions

    return len(seen_positions(validation.texts, fingerprint(data.texts)))


def _warn_shared_sentences(data: LabelledData, validation: LabelledData, config: TrainConfig) -> None:
    """Warn when a validation sentence is also a training one: its metrics then flatter the model."""
    shared = validation_shared(data, validation)
    if shared:
        logger.warning(
            "%d of the %d validation sentences %s also training sentences (%s); the validation metrics "
            "flatter the model by that much",
            shared,
            len(validation),
            "is" if shared == 1 else "are",
            config.validation_file or "the same sentence in several rows of train_file",
        )


def _warn_missing_levels(data: LabelledData, side: str = "training") -> None:
    present = set(data.label_ids)
    missing = [label for i, label in enumerate(data.scale.labels) if i not in present]
    if missing and side == "training":
        logger.warning("No training rows have the score(s) %s; the model cannot learn to predict them", missing)
    elif missing:
        logger.warning(
            "No validation rows have the score(s) %s (%d validation rows in all); the validation metrics, the "
            "epoch kept and the calibration say nothing of them. A larger validation set holds every level.",
            ", ".join(missing),
            len(data),
        )


#: Optimizer steps a default training makes at least, and the most epochs it takes for them.
MIN_DEFAULT_STEPS = 300


MAX_DEFAULT_EPOCHS = 30


def default_epochs(train_sentences: int, batch_size: int) -> int:
    """3 epochs, or as many as make MIN_DEFAULT_STEPS optimizer steps when the training set is small (at most
    MAX_DEFAULT_EPOCHS): a few hundred sentences in 3 epochs are a few dozen steps, too few for the head."""
    steps_per_epoch = max(1, -(-train_sentences // batch_size))
    return min(MAX_DEFAULT_EPOCHS, max(3, -(-MIN_DEFAULT_STEPS // steps_per_epoch)))


#: Fewer labelled sentences than this (training and validation split together), and the defaults take the
#: few-label path, SetFit's shape with sentscore's head: the encoder trained on pairs of the sentences, the head
#: fitted on its frozen vectors, no fine-tuning, and the model trained again on every labelled sentence once
#: validation has measured it (docs/decisions.md, "Few labels").
FEW_LABELS_BELOW = 400
FEW_LABELS = {"contrastive_pairs": 40, "head_first": True, "num_train_epochs": 0, "pooling": "mean"}
#: The knobs the few-label path sets: a config that sets one of them, a teacher or an ensemble keeps fine-tuning
#: (``refit: false`` keeps the path and saves the model that validation measured).
FEW_LABEL_KNOBS = ("contrastive_pairs", "head_first", "num_train_epochs")


def with_size_defaults(config: TrainConfig, run: Run) -> TrainConfig:
    """``config`` with what depends on the training set's size decided where it is not set: the few-label path
    below :data:`FEW_LABELS_BELOW` labelled sentences, else fine-tuning for :func:`default_epochs`."""
    labelled = len(run.train_data) + (0 if config.validation_file else len(run.validation_data))
    if is_few_label_path(config, labelled):
        refit = config.validation_file is None and config.refit is not False  # a validation file stays held out
        logger.info(
            "%d labelled sentences: the few-label path (%d pairs per sentence train the encoder, the head is fitted "
            "on it%s)",
            labelled,
            FEW_LABELS["contrastive_pairs"],
            ", then both again on every labelled sentence" if refit else "",
        )
        return dataclasses.replace(config, **FEW_LABELS, refit=refit)
    config = dataclasses.replace(
        config,
        contrastive_pairs=config.contrastive_pairs or 0,
        head_first=bool(config.head_first) or config.num_train_epochs == 0,  # 0 epochs: the head is fitted
        refit=bool(config.refit),
    )
    if config.num_train_epochs is not None:
        return config
    epochs = default_epochs(run.train_sentences, config.train_batch_size)
    if epochs > 3:
        logger.info("%d epochs: a small training set needs them for %d steps", epochs, MIN_DEFAULT_STEPS)
    return dataclasses.replace(config, num_train_epochs=epochs)


def is_few_label_path(config: TrainConfig, labelled: int) -> bool:
    """Whether a config that leaves the few-label knobs unset trains ``labelled`` sentences on that path."""
    unset = all(getattr(config, knob) is None for knob in FEW_LABEL_KNOBS)
    plain = not config.teacher and config.ensemble == 1 and config.pooling in (None, "mean")
    return unset and plain and labelled < FEW_LABELS_BELOW


#: What training does with a text longer than max_length, by ``train_long_texts``, in the warning's words.
LONG_TEXT_READINGS = {
    "truncate": "cut there for training",
    "head_tail": "cut to their start and end for training",
    "windows": "read in windows for training",
}


def count_long_texts(
    tokenizer: Any, train_data: LabelledData, validation_data: LabelledData, max_length: int, reading: str
) -> dict[str, int]:
    """How many training and validation texts are longer than ``max_length`` tokens; a warning when that is
    more than a twentieth of the training set and training cuts them (``reading`` is ``train_long_texts``)."""

    def longer(texts: list[str]) -> int:  # cut one token later, a text that was cut is one token longer
        return sum(
            len(ids) > max_length for ids in tokenizer(texts, truncation=True, max_length=max_length + 1)["input_ids"]
        )

    counts = {"max_length": max_length, "train": longer(train_data.texts), "validation": longer(validation_data.texts)}
    if counts["train"] > len(train_data) / 20:
        logger.warning(
            "%d of the %d training texts are longer than max_length (%d tokens) and are %s (scoring reads them "
            "whole, in windows); a larger max_length lets training read them whole too",
            counts["train"],
            len(train_data),
            max_length,
            LONG_TEXT_READINGS[reading],
        )
    return counts


def tokenize(data: LabelledData, tokenizer: Any, max_length: int, long_texts: str = "truncate") -> Any:
    """Tokenize once, up front, with the fast tokenizer; keep lengths for length-grouped batching. A text longer
    than ``max_length`` is cut to its start (``truncate``), to its start and end (``head_tail``), or becomes one
    example per overlapping window, each with the text's score (``windows``)."""
    return tokenize_texts(data.texts, labels_with_teacher(data), tokenizer, max_length, long_texts)


def tokenize_texts(texts: list[str], labels: list[Any], tokenizer: Any, max_length: int, long_texts: str) -> Any:
    """:func:`tokenize` of ``texts`` with their label rows."""
    from datasets import Dataset

    if long_texts == "head_tail":
        texts = head_and_tail(tokenizer, texts, max_length)
    windowed = long_texts == "windows"
    encoded = tokenizer(
        texts,
        truncation=True,
        max_length=max_length,
        stride=window_overlap(max_length) if windowed else 0,
        return_overflowing_tokens=windowed,
    )
    columns = {key: encoded[key] for key in encoded if key != "overflow_to_sample_mapping"}
    if windowed:
        labels = [labels[text] for text in encoded["overflow_to_sample_mapping"]]
    columns["labels"] = labels
    columns["length"] = [len(ids) for ids in encoded["input_ids"]]
    return Dataset.from_dict(columns)


def head_and_tail(tokenizer: Any, texts: list[str], max_length: int) -> list[str]:
    """Each text longer than ``max_length`` tokens cut to its first quarter and last three quarters of them
    (the head+tail truncation of Sun et al., 2019: a review's verdict is often at its end). The cut is made
    in the text, at token offsets, so that any tokenizer re-reads it with its own special tokens."""
    budget = max(1, max_length - SPECIAL_TOKENS)
    head = budget // 4
    offsets = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    cut = []
    for text, spans in zip(texts, offsets, strict=True):
        if len(spans) <= budget:
            cut.append(text)
            continue
        tail_start = spans[len(spans) - (budget - head)][0]
        cut.append((text[: spans[head - 1][1]] + " " if head else "") + text[tail_start:])
    return cut


def tokenized(run: Run) -> tuple[Any, Any]:
    """``run``'s training and validation examples: the training texts (labelled, then unlabelled) read as
    ``train_long_texts`` says, the validation texts one example each (with windows, the first), so that the
    validation metrics count texts."""
    from datasets import concatenate_datasets

    config = run.config
    train_set = tokenize(run.train_data, run.tokenizer, config.max_length, config.train_long_texts)
    if run.unlabelled is not None:  # after the labelled sentences; the Trainer's sampler mixes them
        labels = unlabelled_rows(run.unlabelled.teacher_probs)
        extra = tokenize_texts(run.unlabelled.texts, labels, run.tokenizer, config.max_length, config.train_long_texts)
        train_set = concatenate_datasets([train_set, extra])
    validation_reading = "truncate" if config.train_long_texts == "windows" else config.train_long_texts
    return train_set, tokenize(run.validation_data, run.tokenizer, config.max_length, validation_reading)
