"""sentscore audit on the tiny model: every row ranked once from held-out probabilities, the files it writes,
resuming an interrupted audit, one model's view of a new file, and refusals."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sentscore import TrainConfig, audit
from sentscore.auditing.folds import cross_validated_probabilities, labelled_pool
from sentscore.auditing.ranking import rank
from sentscore.data import ScoreScale
from sentscore.errors import SentscoreError
from sentscore.training.recipe import TrainingInterrupted

from .conftest import synthetic_rows, write_csv
from .test_inputs import in_process


@pytest.fixture
def config(tiny_model_dir, tmp_path):
    data = write_csv(
        tmp_path / "labels.csv",
        [(text, score, f"id{i}") for i, (text, score) in enumerate(synthetic_rows(8))],
        header=("sentence", "score", "id"),
    )
    return TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=str(data),
        output_dir=str(tmp_path / "unused"),
        num_train_epochs=1,
        train_batch_size=16,
        learning_rate=1e-3,
        max_length=32,
    )


def test_the_ranking_flags_rows_whose_held_out_probabilities_contradict_their_score():
    """cleanlab on probabilities that know the truth: the rows given another score are the ones flagged."""
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(5), 40)
    given = truth.copy()
    moved = rng.choice(len(truth), 20, replace=False)
    given[moved] = (truth[moved] + rng.integers(2, 4, size=20)) % 5  # distant moves
    probs = np.full((len(truth), 5), 0.05)
    probs[np.arange(len(truth)), truth] = 0.8
    scale = ScoreScale(("1", "2", "3", "4", "5"))
    for ordered in (True, False):  # flagged by distance on an ordered scale, by cleanlab's confident learning else
        ranking = rank(probs, given.tolist(), scale, ordered)
        assert set(np.flatnonzero(ranking.flagged)) == set(moved), ordered
        assert ranking.quality[moved].max() < np.delete(ranking.quality, moved).min()
        assert (ranking.suggested == truth).all()
        assert all(0.0 <= share <= 1.0 for share in ranking.noise_per_level.values())
    assert "distance" in rank(probs, given.tolist(), scale).method["flagged"]
    # a neighbour's score is not flagged on an ordered scale when the model expects it within a level
    near = np.array([[0.1, 0.6, 0.3, 0.0, 0.0]])
    assert not rank(near, [2], scale).flagged[0] and rank(near, [4], scale).flagged[0]


def test_a_cross_validated_audit_ranks_every_row_once_and_writes_its_files(config, tmp_path):
    folder = tmp_path / "audit"
    result = audit(config, folds=2, audit_dir=folder, cleaned=tmp_path / "cleaned.csv", show_progress=False)
    table = result.table
    assert len(table) == 40 and sorted(table["id"]) == sorted(f"id{i}" for i in range(40))  # every row, once
    assert list(table.columns[:4]) == ["row", "sentence", "score", "id"]
    added = {"given_score", "suggested_score", "label_quality", "expected_distance", "flagged", "prob_1", "prob_5"}
    assert added <= set(table.columns)
    assert sorted(table["row"]) == list(range(2, 42))  # as a spreadsheet numbers them
    flagged_first = table["flagged"].tolist()
    assert flagged_first == sorted(flagged_first, reverse=True)
    within = table[table["flagged"] == table["flagged"].iloc[0]]["label_quality"].tolist()
    assert within == sorted(within)
    written = pd.read_csv(folder / "label_issues.csv")
    assert len(written) == 40 and written["row"].tolist() == table["row"].tolist()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["rows"] == 40 and summary["folds"] == 2 and len(summary["fold_seconds"]) == 2
    assert summary["flagged"] == int(table["flagged"].sum()) == sum(v["flagged"] for v in summary["per_level"].values())
    assert (folder / "given_vs_suggested.png").stat().st_size > 0
    cleaned = pd.read_csv(tmp_path / "cleaned.csv")
    assert list(cleaned.columns) == ["sentence", "score", "id"]
    assert len(cleaned) == 40 - summary["flagged"] and not set(cleaned["id"]) & set(table[table["flagged"]]["id"])
    assert cleaned["id"].tolist() == [i for i in pd.read_csv(config.train_file)["id"] if i in set(cleaned["id"])]
    with pytest.raises(SentscoreError, match="holds an audit already"):
        audit(config, folds=2, audit_dir=folder, show_progress=False)


def test_an_interrupted_audit_keeps_its_finished_folds_and_resumes(config, tmp_path):
    folder, stop = tmp_path / "audit", threading.Event()
    pool = labelled_pool(config)
    with pytest.raises(TrainingInterrupted):
        cross_validated_probabilities(config, pool, 3, folder, stop=stop, on_fold=lambda i, s: stop.set())
    first = folder / "folds" / "fold-1.npz"
    assert first.is_file() and not (folder / "folds" / "fold-2.npz").exists()
    kept = first.stat().st_mtime_ns
    probs, seconds = cross_validated_probabilities(config, pool, 3, folder, resume=True)
    assert first.stat().st_mtime_ns == kept and len(seconds) == 3  # fold 1 was read back, not trained again
    assert not np.isnan(probs).any() and np.allclose(probs.sum(axis=1), 1, atol=1e-4)
    other = TrainConfig(**{**config.to_dict(), "seed": 7})
    with pytest.raises(SentscoreError, match="audit of other rows, folds or settings"):
        cross_validated_probabilities(other, pool, 3, folder, resume=True)


def test_one_model_audits_a_new_file_and_says_what_it_saw(trained_tiny_dir, tmp_path, caplog):
    fresh = write_csv(tmp_path / "new.csv", [(f"{text} again", score) for text, score in synthetic_rows(3, seed=9)])
    result = audit(trained_tiny_dir, fresh, audit_dir=tmp_path / "a", output=tmp_path / "issues.jsonl")
    assert len(result.table) == 15 and result.summary["held_out"]["held_out"] == 15
    assert len((tmp_path / "issues.jsonl").read_text().splitlines()) == 15
    with pytest.raises(SentscoreError, match="needs a labelled data file"):
        audit(trained_tiny_dir, audit_dir=tmp_path / "b")


def test_refusals_name_the_fix(config, tmp_path):
    rare = write_csv(tmp_path / "rare.csv", [*synthetic_rows(8)[:30], ("the film was fine", 3)])
    few = TrainConfig(**{**config.to_dict(), "train_file": str(rare)})
    few_rows = pd.read_csv(rare)["score"].value_counts().min()
    with pytest.raises(SentscoreError, match="fewer rows than the 20 folds"):
        audit(few, folds=20, audit_dir=tmp_path / "x", show_progress=False)
    assert few_rows < 20
    with pytest.raises(SentscoreError, match="without the teacher"):
        audit(TrainConfig(**{**config.to_dict(), "teacher": str(tmp_path)}), audit_dir=tmp_path / "y")


def test_what_an_audit_writes_is_checked_before_it_trains_and_never_replaces_an_input(
    config, trained_tiny_dir, tmp_path
):
    before = Path(config.train_file).read_bytes()
    folder = tmp_path / "never"
    for output, cleaned, said in [
        (config.train_file, None, "--output .* is a file the audit reads"),
        (None, config.train_file, "--cleaned .* is a file the audit reads"),
        (tmp_path / "issues.xlsx", None, "cannot write '.xlsx' files"),
        (tmp_path / "same.csv", tmp_path / "same.csv", "--output and --cleaned are both"),
    ]:
        with pytest.raises(SentscoreError, match=said):
            audit(config, audit_dir=folder, output=output, cleaned=cleaned, show_progress=False)
    assert not folder.exists()  # refused before the first fold trained
    with pytest.raises(SentscoreError, match="is a file the audit reads"):
        audit(trained_tiny_dir, config.train_file, audit_dir=folder, output=config.train_file, backend="torch")
    assert Path(config.train_file).read_bytes() == before


def test_the_command_line_audits_and_estimates(config, trained_tiny_dir, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    code, _, err = in_process(["audit", "--config", str(tmp_path / "config.json"), "--folds", "2", "--dry-run"])
    assert code == 0, err
    code, lines, err = in_process(
        ["audit", str(trained_tiny_dir), config.train_file, "--audit-dir", str(tmp_path / "m")]
    )
    assert code == 0, err
    assert (tmp_path / "m" / "label_issues.csv").is_file() and "rows flagged" in " ".join(lines)
    code, _, err = in_process(
        ["audit", str(trained_tiny_dir), config.train_file, "--config", str(tmp_path / "config.json")]
    )
    assert code == 2 and "not both" in err
    # the training flags alone name a recipe, as they do for train
    flags = ["--model-name", config.model_name, "--train-file", config.train_file, "--max-length", "32"]
    code, lines, err = in_process(["audit", *flags, "--folds", "2", "--dry-run"])
    assert code == 0 and "Audit of 40 labelled rows in 2 folds" in " ".join(lines), err
    code, _, err = in_process(["audit", str(trained_tiny_dir)])
    assert code == 2 and "Give the labelled file" in err
    code, _, err = in_process(["audit", str(trained_tiny_dir), config.train_file, "--num-train-epochs", "2"])
    assert code == 2 and "--num-train-epochs sets how the folds" in err  # not silently ignored
