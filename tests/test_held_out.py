"""Held-out honesty: a model folder knows which sentences it saw, evaluate says when a file is not held out, a
test file is scored once and reported apart, and the epoch kept is recorded."""

from __future__ import annotations

import json
import logging

import pytest

from sentscore import TrainConfig, evaluate, train
from sentscore.data import seen
from sentscore.model.folder import ModelFolder

from .conftest import synthetic_rows, write_csv
from .test_cli import assert_user_error, run


@pytest.fixture(scope="module")
def with_test_file(tiny_model_dir, tmp_path_factory):
    """A tiny model trained with a test file beside its training file; its folder and the files."""
    root = tmp_path_factory.mktemp("held-out")
    rows = synthetic_rows(12, seed=1)
    train_file = write_csv(root / "train.csv", rows)
    test_rows = [(f"{text} today", score) for text, score in synthetic_rows(4, seed=2)]
    test_file = write_csv(root / "test.csv", test_rows)
    config = tiny_config(tiny_model_dir, train_file, test_file=str(test_file), num_train_epochs=3, learning_rate=1e-3)
    result = train(config, show_progress=False)
    return result, root


def tiny_config(model_dir, train_file, **settings) -> TrainConfig:
    """The tiny model's config, training on ``train_file`` into ``model`` beside it."""
    model = train_file.parent / "model"
    return TrainConfig(
        model_name=str(model_dir),
        train_file=str(train_file),
        output_dir=str(model),
        train_batch_size=16,
        max_length=32,
        onnx_export="none",
        **settings,
    )


def test_the_test_file_is_scored_once_and_reported_apart(with_test_file):
    result, root = with_test_file
    metrics = json.loads((root / "model" / "metrics.json").read_text())
    assert metrics["test"]["n"] == 20 and metrics["test"]["file"] == "test.csv"
    assert set(metrics["test"]) >= {"accuracy", "qwk", "mae", "ece", "intervals"}
    assert result.test_metrics == metrics["test"]
    # scored as predict scores it: the same accuracy from evaluate on the same file
    again = evaluate(root / "model", root / "test.csv", backend="torch")
    assert again["metrics"]["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert again["held_out"] == {"sentences": 20, "trained_on": 0, "validated_on": 0, "held_out": 20, "known": True}
    card = (root / "model" / "README.md").read_text()
    assert "## Test metrics" in card and card.index("## Test metrics") < card.index("## Validation metrics")
    assert "- Test: `test.csv`, 20 sentences" in card
    assert metrics["test"]["held_out"] == {"sentences": 20, "trained_on": 0, "validated_on": 0, "held_out": 20}
    assert "the figures to quote" in card
    info = ModelFolder(root / "model").info()
    assert info.test_file == "test.csv" and info.test_samples == 20


def test_the_kept_epoch_is_recorded_on_the_card_in_metrics_and_in_the_summary(with_test_file):
    result, root = with_test_file
    epochs = json.loads((root / "model" / "metrics.json").read_text())["epochs"]
    kept = [e for e in epochs if e["kept"]]
    assert len(epochs) == 3 and len(kept) == 1
    best = max(epochs, key=lambda e: e["accuracy"])  # metric_for_best_model: accuracy; ties go to the first
    assert kept[0]["accuracy"] == best["accuracy"]
    assert f"| {kept[0]['epoch']} (kept) |" in (root / "model" / "README.md").read_text()
    from sentscore.cli.train import _kept_epoch_words

    assert _kept_epoch_words(result).startswith(f"Kept the model of epoch {kept[0]['epoch']:g} of 3, the best by")


def test_a_test_file_the_model_saw_is_said_so_before_training_and_after(tiny_model_dir, tmp_path, caplog):
    rows = synthetic_rows(8, seed=3)
    train_file = write_csv(tmp_path / "train.csv", rows)
    test_file = write_csv(tmp_path / "test.csv", [*rows[:6], ("a sentence the model never saw", 3)])
    config = tiny_config(tiny_model_dir, train_file, test_file=str(test_file), num_train_epochs=1)
    with caplog.at_level(logging.WARNING):
        from sentscore.training.plan import dry_run

        dry_run(config)  # the warning comes with the data check, before anything trains
    assert f"6 of the 7 sentences of the test file {test_file} are also training or validation" in caplog.text
    train(config, show_progress=False)
    test = json.loads((tmp_path / "model" / "metrics.json").read_text())["test"]
    assert test["held_out"]["held_out"] == 1 and test["held_out"]["sentences"] == 7
    card = (tmp_path / "model" / "README.md").read_text()
    assert "7 sentences, **6 of them trained or validated on**: these figures flatter the model" in card
    assert "the figures to quote" not in card
    from sentscore.model.card import test_sentences_seen

    assert test_sentences_seen(test) == 6


def test_a_validation_file_sharing_training_sentences_is_said_so_in_the_card_and_summary(tiny_model_dir, tmp_path):
    rows = synthetic_rows(8, seed=4)
    train_file = write_csv(tmp_path / "train.csv", rows)
    validation = write_csv(tmp_path / "validation.csv", [*rows[:5], *synthetic_rows(2, seed=5)])
    config = tiny_config(tiny_model_dir, train_file, validation_file=str(validation), num_train_epochs=1)
    result = train(config, show_progress=False)
    assert result.validation_also_trained_on == 5
    assert json.loads((tmp_path / "model" / "metrics.json").read_text())["validation_also_trained_on"] == 5
    card = (tmp_path / "model" / "README.md").read_text()
    assert "**5 validation sentences are training sentences too**: these figures" in card


def test_evaluate_says_how_much_of_a_file_the_model_saw(with_test_file, tmp_path):
    _, root = with_test_file
    report = evaluate(root / "model", root / "train.csv", backend="torch")
    held = report["held_out"]
    assert held["known"] and held["sentences"] == 60
    assert held["trained_on"] + held["validated_on"] == 60 - held["held_out"]
    # every row was trained or validated on (the 20% split: 12 rows, one of them also a training sentence)
    assert held["held_out"] == 0 and 0 < held["validated_on"] <= 12
    result = run("evaluate", root / "model", root / "train.csv", "--backend", "torch")
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    expected = f"{held['trained_on']} were trained on and {held['validated_on']} were used for validation"
    assert "NOT held out" in said and expected in said and "None is held out" in said
    assert "Scored with model.safetensors" in said
    mixed = write_csv(tmp_path / "mixed.csv", [*synthetic_rows(12, seed=1)[:5], ("a sentence never seen", 3)])
    assert evaluate(root / "model", mixed, backend="torch")["held_out"]["held_out"] == 1


def test_the_fingerprint_compares_text_as_people_read_it_and_keeps_no_text():
    kept = seen.record(["The food was  GREAT.", "ok"], ["Awful"])
    assert "food" not in json.dumps(kept).lower()
    assert seen.overlap(["the food was great.", "awful", "new"], kept) == {
        "sentences": 3,
        "trained_on": 1,
        "validated_on": 1,
        "held_out": 1,
    }
    assert seen.overlap(["x"], None) is None  # a folder from before fingerprints: unknown, not "held out"


def test_evaluate_warns_on_a_handful_of_sentences(with_test_file, tmp_path):
    _, root = with_test_file
    tiny = write_csv(tmp_path / "three.csv", [("great food", 5), ("awful room", 1), ("fine", 3)])
    warnings = evaluate(root / "model", tiny, backend="torch")["warnings"]
    assert any("Only 3 sentences" in w for w in warnings)
    assert any("No sentence has the score(s) 2, 4" in w for w in warnings)


def test_a_bad_test_file_stops_before_training(tiny_model_dir, tmp_path):
    train_file = write_csv(tmp_path / "train.csv", synthetic_rows(6))
    write_csv(tmp_path / "test.csv", [("fine", 9)])
    config = {
        "model_name": str(tiny_model_dir),
        "train_file": "train.csv",
        "test_file": "test.csv",
        "output_dir": "out",
        "max_length": 32,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    result = run("train", "--config", tmp_path / "config.json", "--dry-run")
    assert_user_error(result, "test.csv")
    assert train_file.exists() and not (tmp_path / "out").exists()


def test_the_problems_of_every_labelled_file_are_named_at_once(tiny_model_dir, tmp_path):
    """A bad training, validation and test file: one round of fixes, not three (each file checked on its own
    where the training file cannot give the scale)."""
    (tmp_path / "train.csv").write_text("sentence,score\ngood,5\n,3\n")
    (tmp_path / "dev.csv").write_text("sentence,score\nfine,\n")
    (tmp_path / "test.csv").write_text("text,score\nfine,3\n")
    args = ["--model-name", str(tiny_model_dir), "--output-dir", str(tmp_path / "out"), "--dry-run"]
    files = ["--train-file", "train.csv", "--validation-file", "dev.csv", "--test-file", "test.csv"]
    result = run("train", *args, *[str(tmp_path / f) if f.endswith(".csv") else f for f in files])
    assert_user_error(
        result, "train.csv: blank 'sentence' in row 3", "dev.csv: blank 'score' in row 2", "test.csv: column 'sentence'"
    )
    # Against the training file's scale, where it can be read: a level it does not have, in both other files.
    write_csv(tmp_path / "train.csv", synthetic_rows(10))
    write_csv(tmp_path / "dev.csv", [("fine", 9)])
    write_csv(tmp_path / "test.csv", [("fine", 0)])
    result = run("train", *args, *[str(tmp_path / f) if f.endswith(".csv") else f for f in files])
    assert_user_error(result, "dev.csv: row 2 has 'score' values ['9']", "test.csv: row 2 has 'score' values ['0']")
    assert not (tmp_path / "out").exists()


def test_the_dry_run_checks_the_output_folder_as_the_run_does(with_test_file, tiny_model_dir):
    _, root = with_test_file
    config = {
        "model_name": str(tiny_model_dir),
        "train_file": str(root / "train.csv"),
        "output_dir": str(root / "model"),
        "max_length": 32,
    }
    (root / "again.json").write_text(json.dumps(config))
    result = run("train", "--config", root / "again.json", "--dry-run")
    assert_user_error(result, "already holds a trained model", "--overwrite")


def test_the_epoch_warning_compares_the_kept_epoch_with_the_runner_up(caplog):
    from sentscore.training.results import kept_epoch_marked, warn_if_epochs_are_indistinguishable

    # epochs 4, 7 and 8 tie at the top and epoch 5 is far below: the old check (best against worst) was silent
    accuracy = {1: 0.30, 2: 0.40, 3: 0.45, 4: 0.60, 5: 0.20, 6: 0.50, 7: 0.60, 8: 0.60}
    epochs = [{"epoch": float(e), "step": 10 * e, "accuracy": a} for e, a in accuracy.items()]
    marked = kept_epoch_marked(epochs, best_step=40)
    assert [e["epoch"] for e in marked if e["kept"]] == [4.0]
    with caplog.at_level(logging.WARNING):
        warn_if_epochs_are_indistinguishable(marked, {"accuracy": [0.5, 0.7]}, 50)
    assert "the kept epoch (4) has accuracy 0.600, and another 0.600" in caplog.text
    caplog.clear()
    clear = [{**e, "accuracy": 0.9 if e["kept"] else 0.3} for e in marked]
    with caplog.at_level(logging.WARNING):
        warn_if_epochs_are_indistinguishable(clear, {"accuracy": [0.8, 0.95]}, 500)
    assert "too small to tell the epochs apart" not in caplog.text
    assert kept_epoch_marked(epochs, best_step=None)[-1]["kept"]  # no best chosen: the last model is kept
