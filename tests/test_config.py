import json

import pytest

from sentscore.config import DEFAULT_MODEL, TrainConfig
from sentscore.errors import SentscoreError

RECIPE = {
    "model_name": "bert-base-uncased",
    "max_length": 128,
    "train_batch_size": 8,
    "eval_batch_size": 8,
    "num_train_epochs": 3,
    "learning_rate": 2e-5,
    "output_dir": "./models",
    "num_labels": 5,
}


def test_recipe_config_is_accepted_unchanged(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(RECIPE))
    config = TrainConfig.from_file(path)
    assert config.model_name == "bert-base-uncased"
    assert (config.train_batch_size, config.eval_batch_size, config.num_train_epochs) == (8, 8, 3)
    assert config.learning_rate == 2e-5 and config.num_labels == 5 and config.max_length == 128
    # relative paths are taken from the config file's folder, like the recipe run from that folder
    assert config.output_dir == str(tmp_path / "models")
    assert config.train_file == str(tmp_path / "data" / "dataset.csv")


def test_defaults_use_the_bundled_model():
    assert TrainConfig().model_name == DEFAULT_MODEL


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("learning_rate: 3.0e-5\nnum_train_epochs: 2\nlabels: [bad, ok, good]\n")
    config = TrainConfig.from_file(path, overrides={"num_train_epochs": "4", "class_weights": "true"})
    assert config.learning_rate == 3e-5
    assert config.num_train_epochs == 4.0
    assert config.class_weights is True
    assert config.labels == ["bad", "ok", "good"]


def test_unknown_key_suggests_the_closest(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**RECIPE, "learning_rat": 1e-5}))
    with pytest.raises(SentscoreError, match=r"unknown key 'learning_rat' \(did you mean 'learning_rate'\?\)"):
        TrainConfig.from_file(path)


def test_every_problem_is_reported_at_once():
    values = {
        "max_length": 0,
        "learning_rate": 5,
        "metric_for_best_model": "f2",
        "train_batch_size": "many",
        "learning_rat": 1e-5,
        "dropout": 1,
        "warmup_ratio": 6,
        "weight_decay": -0.1,
        "num_threads": 0,
        "freeze_layers": -1,
        "layer_lr_decay": 0.8,
    }
    with pytest.raises(SentscoreError) as info:
        TrainConfig.from_dict(values)
    message = str(info.value)
    assert "'train_batch_size' must be an integer" in message
    assert "unknown key 'learning_rat'" in message
    for key in (
        "max_length",
        "learning_rate",
        "metric_for_best_model",
        "dropout",
        "warmup_ratio",
        "weight_decay",
        "freeze_layers",
    ):
        assert f"'{key}' must" in message
    assert "'num_threads' must be at least 1" in message
    assert "'layer_lr_decay' was removed in sentscore 0.4" in message
    assert "Valid keys:" in info.value.hint


def test_bad_values_alone_hint_at_the_fix_not_the_key_list():
    with pytest.raises(SentscoreError, match="'warmup_ratio' must be at least 0 and below 1") as info:
        TrainConfig.from_dict({"warmup_ratio": 1.0})
    assert info.value.hint == "Fix that value."
    with pytest.raises(SentscoreError) as two:
        TrainConfig.from_dict({"warmup_ratio": 1.0, "weight_decay": -1})
    assert two.value.hint == "Fix these 2 values; each is named here."


def test_a_bad_flag_is_named_as_a_flag_and_a_bad_key_as_a_key_of_its_file(tmp_path):
    (tmp_path / "config.json").write_text('{"warmup_ratio": 1.0}')
    with pytest.raises(SentscoreError) as info:
        TrainConfig.from_file(tmp_path / "config.json", {"learning_rate": 5.0})
    message = info.value.message
    assert message.startswith(f"{tmp_path / 'config.json'}: 'warmup_ratio' must be at least 0")
    assert "; command line: --learning-rate must be between 0 and 1" in message
    assert "'learning_rate'" not in message  # the flag was given, not the key
    with pytest.raises(SentscoreError, match=r"^command line: --learning-rate must be"):
        TrainConfig.from_dict({"learning_rate": 5.0}, source="command line", flags={"learning_rate"})


def test_train_checks_a_config_built_in_python(tmp_path):
    from sentscore import train

    config = TrainConfig(train_file=str(tmp_path / "absent.csv"), output_dir=str(tmp_path / "m"), learning_rate=0)
    with pytest.raises(SentscoreError, match="'learning_rate' must be between 0 and 1"):
        train(config)


def test_fractional_integer_is_rejected():
    with pytest.raises(SentscoreError, match="max_length"):
        TrainConfig.from_dict({"max_length": 12.5})


def test_invalid_json_names_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(SentscoreError, match="config.json is not valid JSON"):
        TrainConfig.from_file(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(SentscoreError, match="Config file not found"):
        TrainConfig.from_file(tmp_path / "nope.json")


def test_lower_is_better_metrics():
    assert TrainConfig(metric_for_best_model="mae").greater_is_better is False
    assert TrainConfig(metric_for_best_model="qwk").greater_is_better is True


def test_the_config_reference_documents_every_key_and_no_removed_one():
    import dataclasses
    from pathlib import Path

    from sentscore.config import REMOVED_KEYS

    reference = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text()
    table, removed = reference.split("## Removed keys")
    missing = [f.name for f in dataclasses.fields(TrainConfig) if f"`{f.name}`" not in table]
    assert not missing, f"docs/config.md lacks {missing}"
    assert not [key for key in REMOVED_KEYS if f"`{key}`" in table]
    assert all(f"`{key}`" in removed for key in REMOVED_KEYS)


def test_a_key_that_is_not_text_is_an_unknown_key_not_a_crash():
    # YAML reads `~: 1` and `5: 1` as keys None and 5
    with pytest.raises(SentscoreError, match="unknown key 'None'"):
        TrainConfig.from_dict({None: 1})
