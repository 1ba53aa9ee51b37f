"""Every objective end to end on the tiny model (train -> predict -> export -> ONNX parity -> serve), and the
objectives' arithmetic on cases where the answer is known."""

import json
import math

import numpy as np
import pytest

from sentscore import Scorer, TrainConfig, train
from sentscore.data import ScoreScale
from sentscore.errors import SentscoreError
from sentscore.model.objectives import OBJECTIVES, Classification, Ordinal, Regression, objective_from_record
from sentscore.scoring.export import export_onnx

from .conftest import run_recipe_predict, synthetic_rows, write_csv

SENTENCES = ["the food was great and lovely", "the room was awful and dirty", "an okay average film"]


@pytest.fixture(scope="module", params=["ordinal", "regression", "ordinal_log_loss", "classification-mean"])
def trained(request, tiny_model_dir, tmp_path_factory):
    objective, _, pooling = request.param.partition("-")
    root = tmp_path_factory.mktemp(request.param)
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=str(write_csv(root / "d.csv", synthetic_rows(8))),
        output_dir=str(root / "model"),
        num_train_epochs=2,
        learning_rate=1e-3,
        max_length=32,
        objective=objective,
        pooling=pooling or "mean",
    )
    train(config, show_progress=False)
    return objective, root / "model"


def test_every_objective_scores_end_to_end(trained):
    objective, model_dir = trained
    info = json.loads((model_dir / "sentscore.json").read_text())
    assert info["objective"] == objective and info["pooling"] == "mean"
    torch_probs = Scorer.load(model_dir, backend="torch").predict_proba(SENTENCES)
    assert torch_probs.shape == (3, 5)
    np.testing.assert_allclose(torch_probs.sum(axis=1), 1.0, atol=1e-5)
    result = export_onnx(model_dir, quantize="int8")
    assert result.max_abs_logit_diff < 1e-4
    onnx_probs = Scorer.load(model_dir, backend="onnx", onnx_file="model.onnx").predict_proba(SENTENCES)
    np.testing.assert_allclose(onnx_probs, torch_probs, atol=1e-4)
    prediction = Scorer.load(model_dir).predict(SENTENCES[0], set_coverage=0.9)[0]
    assert prediction.score in {1, 2, 3, 4, 5} and prediction.score in prediction.score_set


def test_every_objective_is_served(trained):
    from fastapi.testclient import TestClient

    from sentscore.serve.app import create_app

    _, model_dir = trained
    with TestClient(create_app(Scorer.load(model_dir, backend="torch"))) as client:
        response = client.post("/v1/score", json={"sentences": SENTENCES, "probs": True, "set": 0.8})
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [len(r["probs"]) for r in results] == [5, 5, 5]
        assert all(r["score"] in r["set_levels"] for r in results)  # sets grow from the likeliest
        assert all(r["set"] == [min(r["set_levels"]), max(r["set_levels"])] for r in results)


def test_a_folder_with_sentscores_own_head_is_refused_loudly_by_every_stock_loader(trained, tmp_path):
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, pipeline

    _, model_dir = trained
    for load in (
        lambda: pipeline("text-classification", model=str(model_dir)),
        lambda: AutoModelForSequenceClassification.from_pretrained(str(model_dir)),
        lambda: AutoModel.from_pretrained(str(model_dir)),
        lambda: AutoConfig.from_pretrained(str(model_dir)),
    ):
        with pytest.raises(ValueError, match="sentscore predict") as refused:
            load()
        assert "upgrade" not in str(refused.value).lower()
    (recipe,) = run_recipe_predict(model_dir, ["the food was great"], tmp_path)
    assert recipe.returncode != 0 and "Score:" not in recipe.stdout
    assert "sentscore predict" in recipe.stderr.splitlines()[-1]
    from huggingface_hub import ModelCard

    card = ModelCard.load(model_dir / "README.md").data  # the card names what loads the folder: sentscore
    assert card.library_name == "sentscore" and card.pipeline_tag is None


def test_training_goes_on_from_a_folder_with_sentscores_own_head(trained, tmp_path):
    objective, model_dir = trained
    config = TrainConfig(
        model_name=str(model_dir),
        train_file=str(write_csv(tmp_path / "d.csv", synthetic_rows(4, seed=5))),
        output_dir=str(tmp_path / "again"),
        num_train_epochs=1,
        max_length=32,
        objective=objective,
        pooling="mean",
    )
    train(config, show_progress=False)
    assert Scorer.load(tmp_path / "again", backend="torch").predict_proba(SENTENCES).shape == (3, 5)


def test_corn_probabilities_follow_the_conditional_chain():
    # P(y>0)=0.8, P(y>1 | y>0)=0.5, P(y>2 | y>1)=0.25 -> P = 0.2, 0.4, 0.3, 0.1
    logits = np.log(np.array([[0.8 / 0.2, 1.0, 0.25 / 0.75]]))
    np.testing.assert_allclose(Ordinal(4).probabilities(logits), [[0.2, 0.4, 0.3, 0.1]], atol=1e-6)


def test_corn_loss_trains_each_task_on_the_examples_above_the_previous_level():
    import torch

    objective = Ordinal(3)
    outputs = torch.zeros(2, 2)  # every conditional probability 0.5
    labels = torch.tensor([0, 2])
    # level 0: task 0 only (y > 0 false); level 2: tasks 0 and 1: three binary terms of log 2 each
    assert float(objective.loss({"logits": outputs}, labels)) == pytest.approx(math.log(2), rel=1e-6)


def test_regression_puts_the_mass_around_its_output():
    probs = Regression(5).probabilities(np.array([[0.0], [1.0], [-1.0]]))  # the middle, top and bottom level
    assert list(probs.argmax(axis=1)) == [2, 4, 0]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert probs[0, 1] == pytest.approx(probs[0, 3])  # symmetric around the centre


def test_temperature_scaling_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(4000, 5))
    true_probs = Classification(5, temperature=2.5).probabilities(logits)  # the truth is logits / 2.5
    labels = [rng.choice(5, p=p / p.sum()) for p in true_probs]
    objective = Classification(5)
    assert objective.fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.1)
    assert objective_from_record("classification", 5, objective.params()).temperature == objective.temperature


def test_every_objective_names_itself_and_order_needing_ones_refuse_unordered_text_labels(tiny_model_dir, tmp_path):
    assert set(OBJECTIVES) == {"classification", "ordinal", "regression", "ordinal_log_loss"}
    rows = [(f"the room was {w} {i}", w) for w in ("bad", "ok", "good") for i in range(6)]
    data = write_csv(tmp_path / "d.csv", rows)
    config = TrainConfig(
        model_name=str(tiny_model_dir), train_file=str(data), output_dir=str(tmp_path / "o"), objective="ordinal"
    )
    with pytest.raises(SentscoreError, match="uses the order of the levels"):
        train(config)
    assert ScoreScale(("bad", "good", "ok")).is_numeric is False
