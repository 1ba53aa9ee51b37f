"""The whole recipe with the bundled all-MiniLM-L6-v2 on the shipped example data, through the CLI."""

import json
import shutil

import pytest

from .conftest import EXAMPLES
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


def test_example_model_predicts_and_is_refused_loudly_by_pipeline(example_model):
    from transformers import pipeline

    result = run(
        "predict",
        example_model,
        "Absolutely wonderful, the best meal of my life.",
        "Broken on arrival and the support never answered.",
    )
    assert result.returncode == 0, result.stderr
    scores = [int(line.split()[1]) for line in result.stdout.splitlines()]
    assert scores[0] >= 4 and scores[1] <= 2
    # The bundled encoder is mean-pooled, so the folder holds sentscore's own head, which the stock classes
    # lack: pipeline must refuse it rather than load a random classification head.
    with pytest.raises(ValueError, match="model type `sentscore`"):
        pipeline("text-classification", model=str(example_model))
