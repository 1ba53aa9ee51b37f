"""The head fitted first on the frozen encoder's vectors (head_first: LP-FT), on the tiny model."""

import numpy as np
import pytest

from sentscore import TrainConfig, train

from .conftest import synthetic_rows, write_csv


def test_the_fitted_output_layer_is_scikit_learns_logistic_regression_on_unit_rms_vectors():
    import torch
    from sklearn.linear_model import LogisticRegression

    from sentscore.model.objectives import Classification
    from sentscore.training.steps.probe import fit_output_layer

    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 8)).astype(np.float32)
    labels = (features[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(int) + (features[:, 1] > 0.5)
    layer = torch.nn.Linear(8, 3)
    fit_output_layer(layer, torch.from_numpy(features), labels.tolist(), Classification(3))
    scale = np.sqrt((features**2).sum(axis=1).mean())  # the penalty is LogisticRegression's on unit-RMS vectors
    reference = LogisticRegression(max_iter=1000, tol=1e-8).fit(features / scale, labels)
    ours = torch.softmax(layer(torch.from_numpy(features)), dim=1).detach().numpy()
    np.testing.assert_allclose(ours, reference.predict_proba(features / scale), atol=2e-3)


def test_the_output_layer_is_found_on_the_stock_head_and_on_sentscores(tiny_model_dir):
    from sentscore.data import ScoreScale
    from sentscore.model.loading import load_for_training
    from sentscore.model.objectives import OBJECTIVES
    from sentscore.training.steps.probe import output_layer

    scale = ScoreScale(("1", "2", "3", "4", "5"))
    for pooling, name in (("cls", "classifier"), ("mean", "head")):
        _, model = load_for_training(
            str(tiny_model_dir), scale, objective=OBJECTIVES["ordinal_log_loss"](5), pooling=pooling
        )
        assert output_layer(model, 5) is getattr(model, name)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_training_with_the_head_fitted_first_starts_from_a_head_that_scores(tiny_model_dir, tmp_path, pooling):
    """The step leaves a head whose training loss is below the untouched head's, then training goes on from it
    and writes a usable model."""
    import torch

    from sentscore import Scorer
    from sentscore.data import load_labelled
    from sentscore.model.loading import load_for_training
    from sentscore.model.objectives import OBJECTIVES
    from sentscore.training.examples import tokenize_texts
    from sentscore.training.steps.probe import layer_inputs, output_layer, probe
    from sentscore.training.steps.run import Run

    csv = str(write_csv(tmp_path / "d.csv", synthetic_rows(8)))
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=csv,
        output_dir=str(tmp_path / "out"),
        num_train_epochs=1,
        learning_rate=1e-3,
        max_length=32,
        pooling=pooling,
        head_first=True,
    )
    data = load_labelled(csv)
    objective = OBJECTIVES["ordinal_log_loss"](5)
    tokenizer, model = load_for_training(str(tiny_model_dir), data.scale, objective=objective, pooling=pooling)
    layer = output_layer(model, 5)
    examples = tokenize_texts(data.texts, data.label_ids, tokenizer, config.max_length, config.train_long_texts)

    def loss() -> float:
        with torch.no_grad():
            outputs = layer(layer_inputs(model, layer, tokenizer, examples, config.eval_batch_size, "cpu"))
            return float(objective.loss({"logits": outputs}, torch.tensor(data.label_ids)))

    before = loss()
    probe(Run(config, data, data, objective, model, tokenizer))
    assert loss() < 0.99 * before, (before, loss())  # the random tiny encoder's vectors tell the levels apart little

    result = train(config, show_progress=False)
    assert result.config.head_first is True
    probabilities = Scorer.load(tmp_path / "out", backend="torch").predict_proba(["the food was great"])
    np.testing.assert_allclose(probabilities.sum(), 1.0, atol=1e-5)
