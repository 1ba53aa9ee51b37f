"""The model folder: one record written once, read back checked; folders of the previous release still load."""

import json
import shutil

import pytest

from sentscore import Scorer, __version__
from sentscore.errors import SentscoreError
from sentscore.model.folder import ModelFolder, ModelInfo

#: sentscore.json as sentscore 0.1.0 wrote it (before the objective, the versions and the format were recorded).
RELEASE_0_1_INFO = {
    "sentscore_version": "0.1.0",
    "labels": ["1", "2", "3", "4", "5"],
    "numeric": True,
    "max_length": 32,
    "base_model": "tiny",
    "text_column": "sentence",
    "score_column": "score",
    "train_file": "dataset.csv",
    "validation_file": None,
    "train_samples": 48,
    "validation_samples": 12,
    "train_seconds": 1.5,
    "trained_at": "2026-11-27T05:00:00Z",
    "config": {"learning_rate": 0.001},
}


@pytest.fixture
def folder_copy(trained_tiny_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(trained_tiny_dir, copy)
    return copy


def edit_json(path, **changes):
    record = json.loads(path.read_text())
    record.update(changes)
    path.write_text(json.dumps(record))


def test_the_record_holds_the_objective_and_the_versions(trained_tiny_dir):
    info = ModelFolder(trained_tiny_dir).info()
    assert info.objective == "ordinal_log_loss" and info.format == 2  # the default for numeric scores
    assert info.versions["sentscore"] == __version__ and "transformers" in info.versions and "torch" in info.versions
    assert info.labels == ("1", "2", "3", "4", "5") and info.max_length == 32
    assert ModelInfo.from_json(info.to_json()) == info


def test_a_folder_written_by_release_0_1_still_loads(folder_copy):
    (folder_copy / "sentscore.json").write_text(json.dumps(RELEASE_0_1_INFO))
    info = ModelFolder(folder_copy).info()
    assert (info.objective, info.format, info.versions) == ("classification", 1, {"sentscore": "0.1.0"})
    scorer = Scorer.load(folder_copy, backend="torch")
    assert scorer.predict("the food was great")[0].score in {1, 2, 3, 4, 5}


def test_labels_edited_in_one_file_only_are_reported(folder_copy):
    config = folder_copy / "config.json"
    edit_json(config, id2label={str(i): str(i + 2) for i in range(5)})
    with pytest.raises(SentscoreError, match=r"disagrees with itself.*config.json has the labels \['2', '3'") as info:
        Scorer.load(folder_copy, backend="torch")
    assert "hand edit" in info.value.hint


def test_a_truncation_length_edited_in_one_file_only_is_reported(folder_copy):
    edit_json(folder_copy / "tokenizer_config.json", model_max_length=512)
    with pytest.raises(SentscoreError, match="max_length 32, but tokenizer_config.json has model_max_length 512"):
        Scorer.load(folder_copy, backend="torch")


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", json.dumps({"labels": ["1", "2"]})])
def test_a_damaged_record_is_reported_as_such(folder_copy, content):
    (folder_copy / "sentscore.json").write_text(content)
    with pytest.raises(SentscoreError, match="sentscore.json is damaged"):
        Scorer.load(folder_copy, backend="torch")


def test_an_unknown_objective_asks_for_a_newer_sentscore(folder_copy):
    edit_json(folder_copy / "sentscore.json", objective="telepathy")
    with pytest.raises(SentscoreError, match="objective 'telepathy'") as info:
        Scorer.load(folder_copy, backend="torch")
    assert "Upgrade sentscore" in info.value.hint


def test_the_package_has_one_version_string():
    from importlib.metadata import version

    assert version("sentscore") == __version__
