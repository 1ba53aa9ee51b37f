"""``ensemble: N`` with averaged probabilities: one model that runs every member, end to end on the tiny model
(train -> predict -> export -> ONNX parity -> serve), and the refusal of ``transformers.pipeline``."""

import json

import numpy as np
import pytest
import torch

from sentscore import Scorer, TrainConfig, train
from sentscore.errors import SentscoreError
from sentscore.model.objectives import OBJECTIVES
from sentscore.model.stock_loaders import own_model_type

from .conftest import synthetic_rows, write_csv

SENTENCES = ["the food was great and lovely", "the room was awful and dirty", "the app was okay", "fine"]


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_the_torch_probabilities_are_the_numpy_ones_and_export_to_onnx(name, tmp_path):
    import onnxruntime

    objective = OBJECTIVES[name](5)
    outputs = np.random.default_rng(0).normal(size=(7, objective.num_outputs)).astype(np.float32)
    expected = objective.probabilities_at(outputs.astype(np.float64), 1.0)
    np.testing.assert_allclose(objective.torch_probabilities(torch.from_numpy(outputs)).numpy(), expected, atol=1e-5)

    class Probabilities(torch.nn.Module):
        def forward(self, x):
            return objective.torch_probabilities(x)

    path = tmp_path / "p.onnx"
    torch.onnx.export(Probabilities(), (torch.from_numpy(outputs),), str(path), opset_version=17, dynamo=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    in_onnx = session.run(None, {session.get_inputs()[0].name: outputs})[0]
    np.testing.assert_allclose(in_onnx, expected, atol=1e-5)


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    """Seeds 42 and 43 trained alone, and the two as one ensemble of either kind, all validated on one file and
    uncalibrated (so that an ensemble is exactly the mean of the two)."""
    root = tmp_path_factory.mktemp("ensembles")
    validation = str(write_csv(root / "v.csv", synthetic_rows(3, seed=1)))
    data = str(write_csv(root / "d.csv", synthetic_rows(8)))

    def trained_as(name, **settings):
        config = TrainConfig(
            model_name=str(tiny_model_dir),
            train_file=data,
            validation_file=validation,
            output_dir=str(root / name),
            num_train_epochs=1,
            learning_rate=1e-3,
            max_length=32,
            pooling="mean",
            calibrate=False,
            **settings,
        )
        return train(config, show_progress=False)

    return {
        "alone42": trained_as("alone42", seed=42),
        "alone43": trained_as("alone43", seed=43),
        "probabilities": trained_as("probabilities", seed=42, ensemble=2),
    }


def test_an_ensemble_scores_the_mean_of_its_members_distributions(trained):
    alone = [
        Scorer.load(trained[name].output_dir, backend="torch").predict_proba(SENTENCES)
        for name in ("alone42", "alone43")
    ]
    assert not np.allclose(alone[0], alone[1], atol=1e-3)  # the seeds made different models
    result = trained["probabilities"]
    both = Scorer.load(result.output_dir, backend="torch")
    np.testing.assert_allclose(both.predict_proba(SENTENCES), (alone[0] + alone[1]) / 2, atol=1e-5)
    assert both.info.objective == "averaged_probabilities"
    assert both.info.config["ensemble"] == 2 and both.info.config["objective"] == "ordinal_log_loss"
    assert [member["seed"] for member in result.post_fit["ensemble_members"]] == [42, 43]
    assert not (result.output_dir / ".checkpoints").exists()
    assert "ensemble: 2 models" in (result.output_dir / "README.md").read_text()


def test_an_ensemble_exports_as_one_onnx_graph_that_scores_as_pytorch(trained, tmp_path):
    import shutil

    from sentscore import export_onnx

    folder = tmp_path / "ensemble"
    shutil.copytree(trained["probabilities"].output_dir, folder)
    exported = export_onnx(folder)
    assert exported.max_abs_logit_diff < 1e-3
    on_onnx = Scorer.load(folder, backend="onnx").predict_proba(SENTENCES)
    on_torch = Scorer.load(folder, backend="torch").predict_proba(SENTENCES)
    np.testing.assert_allclose(on_onnx, on_torch, atol=1e-4)


def test_an_ensemble_is_served_and_refused_by_pipeline(trained):
    from fastapi.testclient import TestClient
    from transformers import pipeline

    from sentscore.serve.app import create_app

    folder = trained["probabilities"].output_dir
    scorer = Scorer.load(folder, backend="torch")
    with TestClient(create_app(scorer)) as client:
        response = client.post("/v1/score", json={"sentences": SENTENCES[:2], "probs": True})
    assert response.status_code == 200, response.text
    served = [list(row["probs"].values()) for row in response.json()["results"]]
    np.testing.assert_allclose(served, scorer.predict_proba(SENTENCES[:2]), atol=1e-5)
    assert own_model_type(json.loads((folder / "config.json").read_text())) == "sentscore_ensemble"
    with pytest.raises(ValueError, match="sentscore predict"):
        pipeline("text-classification", model=str(folder))


def test_an_ensemble_cannot_be_fine_tuned_further(trained, tmp_path):
    from sentscore.errors import SentscoreError

    config = TrainConfig(
        model_name=str(trained["probabilities"].output_dir),
        train_file=str(write_csv(tmp_path / "d.csv", synthetic_rows(4))),
        output_dir=str(tmp_path / "out"),
        num_train_epochs=1,
    )
    with pytest.raises(SentscoreError, match="ensemble"):
        train(config, show_progress=False)


def test_a_config_naming_the_removed_weight_soup_is_refused_with_the_reason():
    with pytest.raises(SentscoreError, match="'ensemble_average' was removed in sentscore 0.4: the weight soup lost"):
        TrainConfig.from_dict({"train_file": "x.csv", "ensemble": 2, "ensemble_average": "weights"})
