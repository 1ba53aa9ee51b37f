"""The whole recipe with the bundled all-MiniLM-L6-v2 on the shipped example data, through the CLI."""

import json
import shutil

import numpy as np
import pytest

from .conftest import EXAMPLES, pipeline_probabilities, run_recipe_predict
from .test_cli import run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def example_model(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("example")
    shutil.copy(EXAMPLES / "config.json", workdir / "config.json")
    shutil.copytree(EXAMPLES / "data", workdir / "data")
    result = run("train", "--config", "config.json", "-q", cwd=workdir)
    assert result.returncode == 0, result.stderr
    return workdir / "models"


def test_bundled_model_learns_the_example_data(example_model):
    metrics = json.loads((example_model / "metrics.json").read_text())
    final, baseline = metrics["final"], metrics["majority_baseline"]
    assert final["n"] == 70  # 20% of 350, stratified
    # five balanced levels: the majority baseline is 20%; a model that learned is far above it
    assert baseline["accuracy"] == pytest.approx(0.2)
    assert final["accuracy"] >= baseline["accuracy"] + 0.3
    assert final["within_one"] >= 0.85
    assert final["qwk"] >= 0.6


def test_example_model_scores_alike_in_sentscore_pipeline_and_the_recipes_predict_script(example_model, tmp_path):
    from sentscore import Scorer

    sentences = [
        "Absolutely wonderful, the best meal of my life.",
        "Broken on arrival and the support never answered.",
        "An average hotel: clean enough, nothing special.",
        "The worst customer service I have ever had.",
    ]
    result = run("predict", example_model, *sentences)
    assert result.returncode == 0, result.stderr
    scores = [int(line.split()[1]) for line in result.stdout.splitlines()]
    assert scores[0] >= 4 and scores[1] <= 2
    # The defaults keep the stock head: the recipe's own predict.py prints sentscore's score for every sentence,
    # and pipeline() returns the real labels with sentscore's calibrated probabilities.
    printed = run_recipe_predict(example_model, sentences, tmp_path)
    assert [p.stdout.strip() for p in printed] == [f"Score: {score}" for score in scores]
    ours = Scorer.load(example_model, backend="torch").predict_proba(sentences)
    np.testing.assert_allclose(pipeline_probabilities(example_model, sentences), ours, atol=1e-5)


def test_the_readmes_evaluate_line_runs_on_the_shipped_test_file_and_it_is_held_out(example_model):
    workdir = example_model.parent
    result = run("evaluate", "models", "data/test.csv", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "NOT held out" not in result.stdout and "Scored with model.onnx" in " ".join(result.stdout.split())
    trained_on = run("evaluate", "models", "data/dataset.csv", "--worst", "0", cwd=workdir)
    assert "280 were trained on and 70 were used for validation" in " ".join(trained_on.stdout.split())
