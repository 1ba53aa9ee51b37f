"""Learning from unlabelled sentences: the file read like a file to score, the loss over labelled and unlabelled
examples, a tiny teacher -> student run end to end, the dry run, refusals and resume."""

import json
import threading

import pytest
import torch
from safetensors.torch import load_file

from sentscore import TrainConfig, train
from sentscore.data import load_unlabelled
from sentscore.errors import SentscoreError
from sentscore.model.objectives import OBJECTIVES
from sentscore.training.recipe import TrainingInterrupted
from sentscore.training.steps import teacher as teacher_step
from sentscore.training.steps.distillation import DistillationLoss

from .conftest import synthetic_rows, write_csv
from .test_distillation import distance_to
from .test_resume import AskToStopAt

LEVELS = 5


def unlabelled_texts(n: int, seed: int) -> list[str]:
    return [text for text, _ in synthetic_rows(n, seed=seed)]


def new_to(texts: list[str]) -> int:
    """How many of ``texts`` are distinct and not among the labelled sentences of :func:`config`'s file."""
    return len(set(texts) - {text for text, _ in synthetic_rows(6, seed=3)})


def write_lines(path, lines):
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


# ---- reading -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".txt"])
def test_every_format_reads_its_text_column_leaving_out_blank_repeated_and_labelled_sentences(tmp_path, suffix):
    texts = ["good food", "", "bad room", "good food", "known one", "  ", "fine app"]
    path = tmp_path / f"u{suffix}"
    if suffix == ".txt":
        write_lines(path, texts)
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps({"review": t, "id": i}) + "\n" for i, t in enumerate(texts)))
    else:
        sep = "," if suffix == ".csv" else "\t"
        path.write_text("id" + sep + "review\n" + "".join(f"{i}{sep}{t}\n" for i, t in enumerate(texts)))
    column = "sentence" if suffix == ".txt" else "review"
    found = load_unlabelled(path, column, labelled=["known one"])
    assert found.texts == ["good food", "bad room", "fine app"]
    assert found.left_out["repeated"] == 1 and found.left_out["labelled"] == 1
    assert found.left_out["blank"] == (0 if suffix == ".txt" else 2)  # a text file's blank lines are no rows


def test_an_unreadable_unlabelled_file_is_refused_naming_the_key_the_file_and_the_place(tmp_path):
    broken = tmp_path / "u.csv"
    broken.write_bytes(b"sentence\nfine\n\xff\xfe bad bytes\n")
    with pytest.raises(SentscoreError, match=r"^unlabelled_file: .*u\.csv is not valid UTF-8 text: row 3") as error:
        load_unlabelled(broken)
    assert "UTF-8" in error.value.hint
    wrong_column = write_csv(tmp_path / "w.csv", [("a text", 1)], header=("text", "score"))
    with pytest.raises(SentscoreError, match=r"^unlabelled_file: .*w\.csv.*sentence"):
        load_unlabelled(wrong_column)
    only_known = write_lines(tmp_path / "k.txt", ["known"])
    with pytest.raises(SentscoreError, match="no sentence that is not blank or in the labelled data"):
        load_unlabelled(only_known, labelled=["known"])


def test_the_config_needs_a_teacher_for_unlabelled_sentences_and_refuses_self_training(tmp_path):
    problems = TrainConfig(unlabelled_file="u.txt").problems()
    assert any("'unlabelled_file' needs a 'teacher'" in p for p in problems)
    problems = TrainConfig(teacher="self", unlabelled_file="u.txt").problems()
    assert any("self-training) is not offered: it gained nothing" in p for p in problems)
    assert not TrainConfig(teacher="t", unlabelled_file="u.txt").problems()
    (tmp_path / "c.json").write_text(json.dumps({"teacher": "t", "unlabelled_file": "u.txt"}))
    read = TrainConfig.read_file(tmp_path / "c.json")
    assert read["teacher"] == str(tmp_path / "t") and read["unlabelled_file"] == str(tmp_path / "u.txt")


# ---- the loss ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_an_unlabelled_example_learns_from_the_teacher_alone_and_a_labelled_one_as_before(name):
    objective = OBJECTIVES[name](LEVELS)
    generator = torch.Generator().manual_seed(0)
    levels = torch.tensor([2, -1, 4, -1])
    teacher = torch.softmax(torch.randn(4, LEVELS, generator=generator), -1)
    labels = torch.cat([levels.float().unsqueeze(1), teacher], 1)
    outputs = {"logits": torch.randn(4, objective.num_outputs, generator=generator)}
    student = objective.torch_probabilities(outputs["logits"]).clamp(min=1e-7)
    matched = -(teacher * student.log()).sum(1)
    own = objective.loss_per_item(outputs["logits"], levels.clamp(min=0))
    expected = torch.stack([0.7 * own[0] + 0.3 * matched[0], matched[1], 0.7 * own[2] + 0.3 * matched[2], matched[3]])
    assert torch.isclose(DistillationLoss(objective, 0.3)(outputs, labels), expected.mean())


def test_class_weights_weigh_labelled_examples_by_their_level_and_unlabelled_ones_by_one():
    objective = OBJECTIVES["classification"](LEVELS, class_weights=[1.0, 2.0, 3.0, 4.0, 5.0])
    per_item = torch.tensor([1.0, 1.0, 1.0])
    assert torch.isclose(objective.reduce(per_item, torch.tensor([4, -1, 0])), torch.tensor((5.0 + 1.0 + 1.0) / 3))


# ---- training ----------------------------------------------------------------------------------------------------


def config(tiny_model_dir, tmp_path, out: str, **settings) -> TrainConfig:
    data = tmp_path / "d.csv"
    if not data.exists():
        write_csv(data, synthetic_rows(6, seed=3))
    fixed = {
        "num_train_epochs": 3,
        "train_batch_size": 8,
        "learning_rate": 1e-3,
        "max_length": 32,
        "calibrate": False,
        "onnx_export": "none",
    }
    return TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=str(data),
        output_dir=str(tmp_path / out),
        **{**fixed, **settings},
    )


def test_a_student_given_unlabelled_sentences_grades_them_more_like_its_teacher(
    tiny_model_dir, trained_tiny_dir, tmp_path
):
    texts = unlabelled_texts(12, seed=7)
    unlabelled = write_lines(tmp_path / "u.txt", texts)
    teacher = str(trained_tiny_dir)
    settings = {"teacher": teacher, "teacher_weight": 1.0, "unlabelled_file": str(unlabelled), "onnx_export": "int8"}
    with_text = train(config(tiny_model_dir, tmp_path, "with", **settings), show_progress=False)
    without = train(config(tiny_model_dir, tmp_path, "without", teacher=teacher, teacher_weight=1.0), False)
    kept = new_to(texts)  # the labelled file's sentences are left out
    assert with_text.unlabelled_samples == kept and without.unlabelled_samples is None
    assert distance_to(teacher, tmp_path / "with", texts) < distance_to(teacher, tmp_path / "without", texts)
    info = json.loads((tmp_path / "with" / "sentscore.json").read_text())
    assert info["unlabelled_samples"] == kept and info["config"]["unlabelled_file"] == str(unlabelled)
    card = (tmp_path / "with" / "README.md").read_text()
    assert f"- Unlabelled: `u.txt`, {kept} sentences without a score" in card
    assert with_text.train_samples == without.train_samples  # labelled sentences; validation stays labelled
    assert with_text.validation_samples == without.validation_samples
    assert with_text.post_fit["teacher"]["scoring_seconds"] > 0
    assert (tmp_path / "with" / "model.int8.onnx").is_file()  # the student exports like any model


def test_the_dry_run_counts_unlabelled_sentences_in_the_steps_and_the_default_epochs(
    tiny_model_dir, trained_tiny_dir, tmp_path
):
    from sentscore.training.plan import dry_run

    unlabelled = write_lines(tmp_path / "u.txt", unlabelled_texts(40, seed=9))
    alone = dry_run(config(tiny_model_dir, tmp_path, "a", num_train_epochs=None, contrastive_pairs=0))  # fine-tuned
    taught = dry_run(
        config(
            tiny_model_dir,
            tmp_path,
            "b",
            num_train_epochs=None,
            teacher=str(trained_tiny_dir),
            unlabelled_file=str(unlabelled),
        )
    )
    assert taught.unlabelled_samples == new_to(unlabelled_texts(40, seed=9))
    assert taught.steps_per_epoch == -(-(alone.train_samples + taught.unlabelled_samples) // 8)
    assert taught.config.num_train_epochs < alone.config.num_train_epochs  # more sentences, fewer epochs
    assert not (tmp_path / "b").exists()


def test_an_unreadable_unlabelled_file_stops_training_before_the_teacher_scores(
    tiny_model_dir, trained_tiny_dir, tmp_path
):
    broken = tmp_path / "u.csv"
    broken.write_text("text\nfine\n", encoding="utf-8")
    settings = {"teacher": str(trained_tiny_dir), "unlabelled_file": str(broken)}
    with pytest.raises(SentscoreError, match=r"^unlabelled_file: .*u\.csv.*sentence") as error:
        train(config(tiny_model_dir, tmp_path, "out", **settings), show_progress=False)
    assert error.value.hint


# ---- resume ------------------------------------------------------------------------------------------------------


def test_a_resumed_distillation_reuses_the_teachers_probabilities_and_ends_as_an_uninterrupted_run(
    tiny_model_dir, trained_tiny_dir, tmp_path, monkeypatch
):
    unlabelled = write_lines(tmp_path / "u.txt", unlabelled_texts(6, seed=10))
    settings = {"teacher": str(trained_tiny_dir), "unlabelled_file": str(unlabelled), "pooling": "mean"}
    train(config(tiny_model_dir, tmp_path, "whole", **settings), show_progress=False)
    stop = threading.Event()
    with pytest.raises(TrainingInterrupted):
        train(config(tiny_model_dir, tmp_path, "cut", **settings), False, [AskToStopAt(stop, 5)], stop=stop)
    assert (tmp_path / "cut" / ".checkpoints" / teacher_step.TEACHER_PROBABILITIES).is_file()

    def no_teacher(*args):
        raise AssertionError("the teacher scored again")

    monkeypatch.setattr(teacher_step, "teacher_scorer", no_teacher)
    train(config(tiny_model_dir, tmp_path, "cut", resume=True, **settings), show_progress=False)
    whole, resumed = (
        load_file(tmp_path / "whole" / "model.safetensors"),
        load_file(tmp_path / "cut" / "model.safetensors"),
    )
    assert all(whole[name].equal(resumed[name]) for name in whole)


def test_a_run_resumed_before_its_first_checkpoint_starts_the_model_over_with_the_teachers_probabilities(
    tiny_model_dir, trained_tiny_dir, tmp_path, monkeypatch, caplog
):
    import shutil

    unlabelled = write_lines(tmp_path / "u.txt", unlabelled_texts(6, seed=11))
    settings = {"teacher": str(trained_tiny_dir), "unlabelled_file": str(unlabelled)}
    stop = threading.Event()
    with pytest.raises(TrainingInterrupted):
        train(config(tiny_model_dir, tmp_path, "cut", **settings), False, [AskToStopAt(stop, 2)], stop=stop)
    checkpoints = tmp_path / "cut" / ".checkpoints"
    for student in checkpoints.glob("checkpoint-*"):  # as if stopped after the teacher scored, before a checkpoint
        shutil.rmtree(student)
    monkeypatch.setattr(teacher_step, "teacher_scorer", lambda *args: pytest.fail("the teacher scored again"))
    with caplog.at_level("INFO", logger="sentscore"):
        result = train(config(tiny_model_dir, tmp_path, "cut", resume=True, **settings), show_progress=False)
    assert "the teacher's probabilities come from" in caplog.text
    assert "no checkpoint of the model yet" in caplog.text
    assert result.unlabelled_samples and (tmp_path / "cut" / "model.safetensors").is_file()


def test_the_cli_dry_run_says_how_many_unlabelled_sentences_and_what_it_did_not_time(
    tiny_model_dir, trained_tiny_dir, tmp_path
):
    from .test_cli import run

    texts = unlabelled_texts(6, seed=12)
    write_lines(tmp_path / "u.txt", texts)
    settings = config(tiny_model_dir, tmp_path, "out")
    args = ["train", "--model-name", settings.model_name, "--train-file", settings.train_file, "--dry-run"]
    dry = run(*args, "--teacher", trained_tiny_dir, "--unlabelled-file", "u.txt", "--max-length", "16", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    out = " ".join(dry.stdout.split())
    assert f"Unlabelled: {new_to(texts)} sentences for the teacher to score first" in out
    assert "its scoring is not in the time" in out
    refused = run(*args, "--unlabelled-file", "u.txt", cwd=tmp_path)
    assert refused.returncode == 2 and "--unlabelled-file needs a 'teacher'" in refused.stderr
