"""The few-label path: below a size, the defaults train SetFit's shape with sentscore's head, and the model saved is
trained again on every labelled sentence once validation has measured it (refit)."""

import logging
from types import SimpleNamespace

import pytest

from sentscore import Scorer, TrainConfig, train
from sentscore.data import LabelledData, ScoreScale
from sentscore.training.examples import FEW_LABELS_BELOW, with_size_defaults

from .conftest import synthetic_rows, write_csv

SCALE = ScoreScale(("1", "2", "3", "4", "5"))


def _run(config: TrainConfig, train_rows: int, validation_rows: int) -> SimpleNamespace:
    """What with_size_defaults reads of a run: the labelled sentences on each side (and the unlabelled ones)."""

    def data(n: int) -> LabelledData:
        return LabelledData([f"s{i}" for i in range(n)], [i % 5 for i in range(n)], SCALE, "d.csv")

    return SimpleNamespace(
        train_data=data(train_rows), validation_data=data(validation_rows), train_sentences=train_rows
    )


def test_a_small_training_file_takes_the_few_label_path():
    config = with_size_defaults(TrainConfig(), _run(TrainConfig(), 32, 8))
    assert (config.contrastive_pairs, config.head_first, config.num_train_epochs) == (40, True, 0)
    assert (config.pooling, config.refit) == ("mean", True)


def test_the_path_is_chosen_by_every_labelled_sentence_and_keeps_a_validation_file_held_out():
    below = FEW_LABELS_BELOW - 1
    at_the_limit = with_size_defaults(TrainConfig(), _run(TrainConfig(), below - 100, 100))
    assert at_the_limit.num_train_epochs == 0
    larger = with_size_defaults(TrainConfig(), _run(TrainConfig(), below - 100, 101))
    assert (larger.contrastive_pairs, larger.head_first, larger.refit) == (0, False, False)
    assert larger.num_train_epochs >= 3  # fine-tuning, for the default steps
    given = TrainConfig(validation_file="dev.csv")  # its sentences are not the training file's: counted apart
    on_path = with_size_defaults(given, _run(given, 32, 500))
    assert (on_path.num_train_epochs, on_path.refit) == (0, False)
    measured = with_size_defaults(TrainConfig(refit=False), _run(TrainConfig(refit=False), 32, 8))
    assert (measured.num_train_epochs, measured.contrastive_pairs, measured.refit) == (0, 40, False)


@pytest.mark.parametrize(
    "setting",
    [{"num_train_epochs": 3}, {"contrastive_pairs": 0}, {"head_first": False}, {"pooling": "cls"}, {"ensemble": 2}],
)
def test_a_config_that_asks_for_fine_tuning_keeps_it(setting):
    config = TrainConfig(**setting)
    resolved = with_size_defaults(config, _run(config, 32, 8))
    assert resolved.num_train_epochs and resolved.num_train_epochs > 0
    assert resolved.refit is False
    assert resolved.contrastive_pairs == setting.get("contrastive_pairs", 0)


def test_zero_epochs_fit_the_head_and_refit_needs_them():
    assert with_size_defaults(TrainConfig(num_train_epochs=0), _run(TrainConfig(), 32, 8)).head_first is True
    problems = "\n".join(TrainConfig(num_train_epochs=0, head_first=False).problems())
    assert "leaves the head untrained" in problems
    for refused in (
        {"refit": True},
        {"refit": True, "num_train_epochs": 2},
        {"refit": True, "num_train_epochs": 0, "ensemble": 2},
    ):
        assert any("'refit'" in problem for problem in TrainConfig(**refused).problems()), refused
    assert not TrainConfig(refit=True, num_train_epochs=0).problems()


def test_a_few_labels_train_the_pairs_and_the_head_then_again_on_every_sentence(tiny_model_dir, tmp_path, caplog):
    """40 sentences: validation measures the model trained on 32, and the model saved is made again from all 40
    (its contrastive step pairs all 40); the folder counts the validation sentences as trained on."""
    from sentscore.data import seen

    rows = synthetic_rows(8)
    csv = write_csv(tmp_path / "d.csv", rows)
    config = TrainConfig(model_name=str(tiny_model_dir), train_file=str(csv), output_dir=str(tmp_path / "out"))
    with caplog.at_level(logging.INFO, logger="sentscore"):
        result = train(config, show_progress=False)
    pairs = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Contrastive step: ")]
    assert pairs == ["Contrastive step: 1280 sentence pairs", "Contrastive step: 1600 sentence pairs"]
    assert (result.train_samples, result.validation_samples, result.epochs) == (40, 8, [])
    resolved = result.config
    assert (resolved.num_train_epochs, resolved.contrastive_pairs, resolved.refit) == (0, 40, True)
    scorer = Scorer.load(tmp_path / "out", backend="torch")
    assert seen.overlap([text for text, _ in rows], scorer.info.seen)["trained_on"] == 40
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "- Refit: once validation had measured the model" in card
    assert "No fine-tuning epochs: the contrastive step" in card and "![Training curve]" not in card  # no epochs
    assert "so few validation sentences tell little" in card  # 8 sentences: an accuracy interval wider than 0.2


def test_asked_to_stop_on_the_few_label_path_it_stops_without_writing(tiny_model_dir, tmp_path):
    """No epoch to checkpoint: a stop asked during the steps before fitting ends the run there, nothing written."""
    import threading

    from sentscore.training.recipe import TrainingInterrupted

    csv = write_csv(tmp_path / "d.csv", synthetic_rows(4))
    config = TrainConfig(model_name=str(tiny_model_dir), train_file=str(csv), output_dir=str(tmp_path / "out"))
    stop = threading.Event()
    stop.set()
    with pytest.raises(TrainingInterrupted) as interrupted:
        train(config, show_progress=False, stop=stop)
    assert interrupted.value.checkpoint is None
    assert not (tmp_path / "out" / "model.safetensors").exists()
