"""The example data and config the project ships."""

import json
from collections import Counter

from sentscore.config import TrainConfig
from sentscore.data import load_labelled

from .conftest import EXAMPLES


def test_example_dataset_is_large_balanced_and_unique():
    data = load_labelled(EXAMPLES / "data" / "dataset.csv", num_labels=5)
    assert len(data) >= 300
    counts = Counter(data.label_ids)
    assert sorted(counts) == [0, 1, 2, 3, 4] and max(counts.values()) - min(counts.values()) <= len(data) * 0.02
    assert len(set(data.texts)) == len(data.texts)


def test_example_config_uses_the_recipe_keys_and_the_offline_model():
    raw = json.loads((EXAMPLES / "config.json").read_text())
    recipe_keys = {
        "model_name",
        "max_length",
        "train_batch_size",
        "eval_batch_size",
        "num_train_epochs",
        "learning_rate",
        "output_dir",
        "num_labels",
    }
    assert set(raw) == recipe_keys
    config = TrainConfig.from_file(EXAMPLES / "config.json")
    assert config.train_file == str(EXAMPLES / "data" / "dataset.csv")
    assert config.model_name == "sentence-transformers/all-MiniLM-L6-v2"


def test_example_test_file_is_held_out_and_balanced():
    """examples/data/test.csv, for the README's `sentscore evaluate models data/test.csv`: labelled like the
    training file, every level, and no sentence of the training file."""
    test = load_labelled(EXAMPLES / "data" / "test.csv", num_labels=5)
    train = load_labelled(EXAMPLES / "data" / "dataset.csv", num_labels=5)
    assert len(test) >= 50 and sorted(Counter(test.label_ids).values()) == [len(test) // 5] * 5
    from sentscore.data.seen import fingerprint, seen_positions

    assert seen_positions(test.texts, fingerprint(train.texts)) == []
