"""Weight averaging of the epochs and the linear-probe head, on the tiny model."""

import json

import numpy as np
import pytest
from safetensors.torch import load_file

from sentscore import TrainConfig, train
from sentscore.averaging import SoupOfWeights
from sentscore.data import load_labelled
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


def checkpoint_recorder():
    """A callback keeping a copy of each epoch checkpoint's weights as the Trainer writes it."""
    from transformers import TrainerCallback

    class Recorder(TrainerCallback):
        def __init__(self):
            self.saved = []

        def on_save(self, args, state, control, **kwargs):
            self.saved.append(load_file(f"{args.output_dir}/checkpoint-{state.global_step}/model.safetensors"))

    return Recorder()


def test_uniform_averaging_keeps_the_mean_of_every_epochs_weights(tiny_model_dir, tmp_path):
    keep = checkpoint_recorder()
    train(small_config(tiny_model_dir, tmp_path, weight_averaging="uniform"), show_progress=False, callbacks=[keep])
    assert len(keep.saved) == 3
    saved = load_file(tmp_path / "out" / "model.safetensors")
    calibration = json.loads((tmp_path / "out" / "sentscore.json").read_text())["calibration"]
    assert calibration["in_weights"]  # the output layer holds the temperature, fitted to the averaged model
    for name, scale in (
        ("head.weight", calibration["temperature"]),
        ("encoder.encoder.layer.1.output.dense.weight", 1),
    ):
        mean = sum(epoch[name] for epoch in keep.saved) / 3
        np.testing.assert_allclose(saved[name].numpy(), mean.numpy() / scale, atol=1e-6)
        assert not np.allclose(saved[name].numpy(), keep.saved[-1][name].numpy())  # not simply the last epoch


def test_the_greedy_soup_is_never_worse_on_validation_than_the_best_epoch(tiny_model_dir, tmp_path):
    result = train(small_config(tiny_model_dir, tmp_path, weight_averaging="greedy"), show_progress=False)
    assert result.metrics["accuracy"] >= max(e["accuracy"] for e in result.epochs)
    assert not (tmp_path / "out" / ".checkpoints").exists()


def test_a_soup_averages_floating_point_weights_and_leaves_the_rest():
    import torch

    model = torch.nn.Linear(2, 1)
    model.register_buffer("steps", torch.tensor([7]))
    first = {"weight": torch.tensor([[1.0, 2.0]]), "bias": torch.tensor([0.0]), "steps": torch.tensor([1])}
    second = {"weight": torch.tensor([[3.0, 6.0]]), "bias": torch.tensor([1.0]), "steps": torch.tensor([2])}
    soup = SoupOfWeights.for_model(model).with_added(first).with_added(second)
    soup.load_into(model)
    assert model.weight.tolist() == [[2.0, 4.0]] and model.bias.tolist() == [0.5]
    assert model.steps.tolist() == [7] and soup.count == 2


def test_the_linear_probe_head_starts_where_a_logistic_regression_on_the_features_ends(tiny_model_dir, tmp_path):
    from sklearn.linear_model import LogisticRegression

    from sentscore.headinit import initialise_head_from_probe, sentence_features
    from sentscore.models import load_for_training
    from sentscore.objectives import Classification

    data = load_labelled(write_csv(tmp_path / "d.csv", synthetic_rows(8)))
    tokenizer, model = load_for_training(str(tiny_model_dir), data.scale, pooling="mean")
    assert initialise_head_from_probe(model, tokenizer, data, Classification(5), 32)
    features = sentence_features(model, tokenizer, data.texts, 32)
    reference = LogisticRegression(max_iter=1000).fit(features, data.label_ids)
    logits = features @ model.head.weight.detach().numpy().T + model.head.bias.detach().numpy()
    assert (logits.argmax(axis=1) == reference.predict(features)).all()
    _, stock = load_for_training(str(tiny_model_dir), data.scale, pooling="cls")
    assert not initialise_head_from_probe(stock, tokenizer, data, Classification(5), 32)


@pytest.mark.parametrize("objective", ["ordinal", "regression"])
def test_every_objective_has_a_linear_probe(tiny_model_dir, tmp_path, objective):
    result = train(small_config(tiny_model_dir, tmp_path, objective=objective, head_init="linear_probe"))
    assert 0 <= result.metrics["accuracy"] <= 1


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
    from sentscore.training import with_default_objective

    config = TrainConfig(labels=given_order)
    assert config.objective is None
    assert with_default_objective(config, ScoreScale(labels)).objective == expected
    chosen = TrainConfig(objective="regression")
    assert with_default_objective(chosen, ScoreScale(labels)).objective == "regression"  # a choice is kept


LONG = "the plot begins slowly and the acting is stiff but by the end it is a wonderful film"


def test_training_reads_a_long_text_from_its_start_its_start_and_end_or_every_window(tiny_model_dir):
    from transformers import AutoTokenizer

    from sentscore.data import LabelledData, ScoreScale
    from sentscore.training import tokenize

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
