"""Shared fixtures: a tiny randomly initialised BERT (built here, nothing downloaded) and small data."""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import pytest

POSITIVE = ["great", "wonderful", "excellent", "lovely", "superb", "perfect"]
NEGATIVE = ["awful", "terrible", "horrible", "broken", "rude", "dirty"]
NEUTRAL = ["okay", "average", "fine", "ordinary", "decent", "standard"]
THINGS = ["food", "film", "phone", "hotel", "app", "service", "staff", "room"]


@pytest.fixture(scope="session", autouse=True)
def scoring_cache(tmp_path_factory) -> Path:
    """OpenVINO's cache of compiled models in a folder of the session's, not the user's ~/.cache."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SENTSCORE_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer, hidden-32 BERT with the bundled model's WordPiece tokenizer, randomly initialised."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from sentscore.model.base import bundled_model_path

    path = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def synthetic_rows(n_per_level: int = 12, seed: int = 0) -> list[tuple[str, int]]:
    """Sentences whose score follows their words, so even a tiny model can learn something."""
    rng = random.Random(seed)
    words = {1: NEGATIVE, 2: NEGATIVE[:3] + NEUTRAL[:3], 3: NEUTRAL, 4: NEUTRAL[3:] + POSITIVE[:3], 5: POSITIVE}
    rows = []
    for score, vocab in words.items():
        for _ in range(n_per_level):
            rows.append((f"the {rng.choice(THINGS)} was {rng.choice(vocab)} and {rng.choice(vocab)}", score))
    rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows, header=("sentence", "score")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def labelled_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "dataset.csv", synthetic_rows())


@pytest.fixture(scope="session")
def trained_tiny_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """A model directory written by sentscore.train from the tiny BERT (session-wide: trained once)."""
    from sentscore import TrainConfig, train

    root = tmp_path_factory.mktemp("trained")
    data = write_csv(root / "dataset.csv", synthetic_rows(20))  # 20 validation sentences: enough to calibrate
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=str(data),
        output_dir=str(root / "model"),
        num_train_epochs=2,
        train_batch_size=16,
        learning_rate=1e-3,
        max_length=32,
    )
    train(config)
    return root / "model"


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


#: The recipe sentscore replaces, as it publishes it (beside the project, never copied into it).
RECIPE = Path(__file__).resolve().parents[2] / "shared" / "recipe"


#: The recipe's predict.py loaded as a module (its ``__main__`` part does not run) in one process, its own
#: ``predict()`` then called for each sentence given on standard input as JSON, printing what its script prints.
RECIPE_PREDICT_EACH = """
import json, runpy, sys
predict = runpy.run_path(sys.argv[1], run_name="recipe_predict")["predict"]
for sentence in json.load(sys.stdin):
    print(f"Score: {predict(sentence)}", flush=True)
"""


def run_recipe_predict(model_dir: Path, sentences: list[str], workdir: Path) -> list:
    """The recipe's predict.py, unchanged, on ``model_dir`` (it reads ``models`` in its working directory): one
    object per sentence with the ``returncode``, ``stdout`` and ``stderr`` of printing its score. The first
    sentence runs the script as the recipe does (``python predict.py "sentence"``); the rest call the same
    script's ``predict()`` in one more process, since loading torch for each would take most of the suite's time."""
    import json
    import subprocess
    import sys
    from types import SimpleNamespace

    if not (RECIPE / "predict.py").is_file():
        pytest.skip(f"the recipe's predict.py is not at {RECIPE}")
    link = workdir / "models"
    if not link.exists():
        link.symlink_to(model_dir.resolve(), target_is_directory=True)
    script = str(RECIPE / "predict.py")
    first = subprocess.run([sys.executable, script, sentences[0]], cwd=workdir, capture_output=True, text=True)
    if len(sentences) == 1:
        return [first]
    rest = subprocess.run(
        [sys.executable, "-c", RECIPE_PREDICT_EACH, script],
        input=json.dumps(sentences[1:]),
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    printed = [line + "\n" for line in rest.stdout.splitlines()]
    printed += [""] * (len(sentences) - 1 - len(printed))  # a sentence it failed on printed nothing
    return [first] + [SimpleNamespace(returncode=rest.returncode, stdout=out, stderr=rest.stderr) for out in printed]


def pipeline_probabilities(model_dir: Path, sentences: list[str]) -> Any:
    """What ``transformers.pipeline("text-classification")`` gives for each sentence, as an array of the
    probabilities of the levels 1..5 in order."""
    import numpy as np
    from transformers import pipeline

    results = pipeline("text-classification", model=str(model_dir))(sentences, top_k=None, truncation=True)
    return np.array([[{r["label"]: r["score"] for r in rows}[label] for label in "12345"] for rows in results])
