"""Knowledge distillation: the loss that mixes the true levels with a teacher's distribution, and training from a
teacher model folder on the tiny model."""

import json

import numpy as np
import pytest
import torch

from sentscore import Scorer, TrainConfig, train
from sentscore.errors import SentscoreError
from sentscore.model.objectives import OBJECTIVES
from sentscore.training.steps.distillation import DistillationLoss

from .conftest import synthetic_rows, write_csv

LEVELS = 5


def batch(seed: int = 0, size: int = 6):
    generator = torch.Generator().manual_seed(seed)
    levels = torch.randint(0, LEVELS, (size,), generator=generator)
    teacher = torch.softmax(torch.randn(size, LEVELS, generator=generator), -1)
    return levels, teacher, torch.cat([levels.float().unsqueeze(1), teacher], 1)


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_the_loss_mixes_the_objectives_own_loss_with_the_cross_entropy_against_the_teacher(name):
    objective = OBJECTIVES[name](LEVELS)
    levels, teacher, labels = batch()
    outputs = {"logits": torch.randn(len(levels), objective.num_outputs, generator=torch.Generator().manual_seed(1))}
    own = objective.loss(outputs, levels)
    student = objective.torch_probabilities(outputs["logits"]).clamp(min=1e-7)
    matched = -(teacher * student.log()).sum(1).mean()

    assert torch.isclose(DistillationLoss(objective, 0.0)(outputs, labels), own)
    assert torch.isclose(DistillationLoss(objective, 1.0)(outputs, labels), matched)
    assert torch.isclose(DistillationLoss(objective, 0.3)(outputs, labels), 0.7 * own + 0.3 * matched)


def test_validation_batches_with_the_true_levels_alone_get_the_objectives_loss():
    objective = OBJECTIVES["ordinal_log_loss"](LEVELS)
    levels, _, _ = batch()
    outputs = {"logits": torch.randn(len(levels), LEVELS)}
    assert torch.equal(DistillationLoss(objective, 0.5)(outputs, levels), objective.loss(outputs, levels))


def test_the_items_the_trainer_counts_in_label_rows_average_over_the_examples():
    """The Trainer counts every entry of the labels; the loss is still the mean over the batch's examples."""
    objective = OBJECTIVES["classification"](LEVELS)
    levels, _, labels = batch(size=4)
    outputs = {"logits": torch.randn(4, LEVELS)}
    loss = DistillationLoss(objective, 0.5)
    counted = torch.tensor(labels.numel())
    assert torch.isclose(loss(outputs, labels, num_items_in_batch=counted), loss(outputs, labels))


def distance_to(teacher_dir, model_dir, texts) -> float:
    """Mean KL divergence of the model's distributions from the teacher's over ``texts``."""
    teacher = Scorer.load(teacher_dir, backend="torch").predict_proba(texts)
    student = Scorer.load(model_dir, backend="torch").predict_proba(texts)
    return float(np.mean(np.sum(teacher * (np.log(teacher + 1e-9) - np.log(student + 1e-9)), axis=1)))


def test_a_student_trained_on_its_teacher_grades_more_like_it(tiny_model_dir, trained_tiny_dir, tmp_path):
    rows = synthetic_rows(8, seed=3)
    data = write_csv(tmp_path / "d.csv", rows)

    def student(weight: float):
        config = TrainConfig(
            model_name=str(tiny_model_dir),
            train_file=str(data),
            output_dir=str(tmp_path / f"student-{weight}"),
            num_train_epochs=4,
            learning_rate=1e-3,
            max_length=32,
            teacher=str(trained_tiny_dir),
            teacher_weight=weight,
            calibrate=False,
        )
        train(config, show_progress=False)
        return tmp_path / f"student-{weight}"

    texts = [text for text, _ in rows]
    from_teacher, from_levels = student(1.0), student(0.0)
    assert distance_to(trained_tiny_dir, from_teacher, texts) < distance_to(trained_tiny_dir, from_levels, texts)
    recorded = json.loads((from_teacher / "sentscore.json").read_text())["config"]
    assert recorded["teacher"] == str(trained_tiny_dir) and recorded["teacher_weight"] == 1.0
    card = (from_teacher / "README.md").read_text()
    assert f"| `teacher` | {trained_tiny_dir} |" in card and "| `teacher_weight` | 1.0 |" in card
    assert "| `teacher_weight` |" not in (trained_tiny_dir / "README.md").read_text()


def test_a_teacher_of_other_levels_is_refused_with_both_sets_named(tiny_model_dir, trained_tiny_dir, tmp_path):
    rows = [(text, {1: "bad", 2: "bad", 3: "ok", 4: "good", 5: "good"}[score]) for text, score in synthetic_rows(6)]
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=str(write_csv(tmp_path / "d.csv", rows)),
        output_dir=str(tmp_path / "out"),
        teacher=str(trained_tiny_dir),
    )
    with pytest.raises(SentscoreError, match="scores the levels 1, 2, 3, 4, 5, but .* has bad, good, ok") as error:
        train(config, show_progress=False)
    assert "same levels" in error.value.hint


def test_a_missing_teacher_is_named_as_the_teacher(tiny_model_dir, tmp_path):
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=str(write_csv(tmp_path / "d.csv", synthetic_rows(6))),
        output_dir=str(tmp_path / "out"),
        teacher=str(tmp_path / "nowhere"),
    )
    with pytest.raises(SentscoreError, match="^teacher: .*nowhere") as error:
        train(config, show_progress=False)
    assert "sentscore train wrote" in error.value.hint


def test_a_teacher_weight_outside_0_to_1_is_refused():
    with pytest.raises(SentscoreError, match="teacher_weight"):
        TrainConfig(teacher_weight=1.5).validate()


def test_a_teacher_path_in_a_config_file_is_read_from_the_files_folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"teacher": "models/large"}))
    assert TrainConfig.from_file(tmp_path / "config.json").teacher == str(tmp_path / "models" / "large")
