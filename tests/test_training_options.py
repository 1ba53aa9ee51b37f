"""Training options on the tiny model: the default objective, long texts, ensembles, removed keys."""

import pytest

from sentscore import TrainConfig, train
from sentscore.errors import SentscoreError

from .conftest import synthetic_rows, write_csv


def small_config(model_dir, tmp_path, **settings) -> TrainConfig:
    return TrainConfig(
        model_name=str(model_dir),
        train_file=str(write_csv(tmp_path / "d.csv", synthetic_rows(8))),
        output_dir=str(tmp_path / "out"),
        num_train_epochs=3,
        learning_rate=1e-3,
        max_length=32,
        pooling="mean",
        **settings,
    )


@pytest.mark.parametrize(
    ("labels", "given_order", "expected"),
    [
        (("1", "2", "3", "4", "5"), None, "ordinal_log_loss"),  # numbers are ordered
        (("bad", "good", "ok"), ["bad", "ok", "good"], "ordinal_log_loss"),  # an order was given
        (("bad", "good", "ok"), None, "classification"),  # text in no given order
    ],
)
def test_the_default_objective_follows_whether_the_levels_are_ordered(labels, given_order, expected):
    from sentscore.data import ScoreScale
    from sentscore.training.recipe import with_default_objective

    config = TrainConfig(labels=given_order)
    assert config.objective is None
    assert with_default_objective(config, ScoreScale(labels)).objective == expected
    chosen = TrainConfig(objective="regression")
    assert with_default_objective(chosen, ScoreScale(labels)).objective == "regression"  # a choice is kept


LONG = "the plot begins slowly and the acting is stiff but by the end it is a wonderful film"


def test_training_reads_a_long_text_from_its_start_its_start_and_end_or_every_window(tiny_model_dir):
    from transformers import AutoTokenizer

    from sentscore.data import LabelledData, ScoreScale
    from sentscore.training.examples import tokenize

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    data = LabelledData([LONG, "fine"], [4, 2], ScoreScale(("1", "2", "3", "4", "5")), "test")
    words = lambda ids: tokenizer.decode(ids, skip_special_tokens=True)  # noqa: E731
    head = tokenize(data, tokenizer, 10, "truncate")
    assert words(head["input_ids"][0]) == "the plot begins slowly and the acting is"
    both = tokenize(data, tokenizer, 10, "head_tail")
    assert words(both["input_ids"][0]) == "the plot end it is a wonderful film"  # 2 tokens of head, 6 of tail
    assert both["labels"] == [4, 2]
    windows = tokenize(data, tokenizer, 10, "windows")
    assert windows["labels"] == [4, 4, 4, 2]  # three overlapping windows of the long text, each with its score
    assert words(windows["input_ids"][2]).endswith("a wonderful film")
    assert all(len(ids) <= 10 for ids in windows["input_ids"]) and windows["length"][3] == 3


def test_windows_as_training_examples_train_and_validate_one_example_per_text(tiny_model_dir, tmp_path):
    rows = [(f"{text} " * 4, score) for text, score in synthetic_rows(4)]
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=str(write_csv(tmp_path / "long.csv", rows)),
        output_dir=str(tmp_path / "m"),
        max_length=12,
        num_train_epochs=1,
        train_long_texts="windows",
    )
    result = train(config, show_progress=False)
    assert result.metrics["n"] == result.validation_samples == result.long_texts["validation"]  # texts, not windows
    assert result.long_texts["train"] == result.train_samples == 15


def test_an_unknown_long_text_reading_is_refused_with_the_choices():
    with pytest.raises(Exception, match="'train_long_texts' must be one of truncate, head_tail, windows"):
        TrainConfig(train_file="x.csv", train_long_texts="middle").validate()


def test_an_ensemble_cannot_be_resumed_or_empty():
    with pytest.raises(SentscoreError, match="ensemble"):
        TrainConfig(ensemble=0).validate()
    with pytest.raises(SentscoreError, match="resume"):
        TrainConfig(ensemble=2, resume=True).validate()
