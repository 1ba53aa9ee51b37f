"""sentscore tune on the tiny model: a few trials, the files they leave, resuming, and the time limit."""

import json

import pandas as pd
import pytest

from sentscore import TrainConfig
from sentscore.cli.main import main
from sentscore.integrations.tuning import SEARCH_SPACE, tune

from .conftest import synthetic_rows, write_csv

pytest.importorskip("optuna")


@pytest.fixture
def base_config(tiny_model_dir, tmp_path):
    data = write_csv(tmp_path / "d.csv", synthetic_rows(8))
    return TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=str(data),
        output_dir=str(tmp_path / "model"),
        num_train_epochs=2,
        max_length=32,
        train_batch_size=16,
    )


def test_a_short_search_writes_the_best_config_and_resumes(base_config, tmp_path):
    study = tmp_path / "study"
    result = tune(base_config, study, trials=2, params=["learning_rate", "objective"])
    assert result.trials_done + result.trials_pruned == 2 and result.trials_done >= 1
    assert sorted(p.name for p in study.iterdir()) == ["best_config.json", "study.db", "trials.csv", "trials.png"]
    best = TrainConfig.from_file(result.best_config)
    assert set(result.best_params) in ({"learning_rate", "objective"}, set())  # a sampled trial or the first
    for key, value in result.best_params.items():
        assert getattr(best, key) == value
    low, high = SEARCH_SPACE["learning_rate"].low, SEARCH_SPACE["learning_rate"].high
    assert best.learning_rate is None or low <= best.learning_rate <= high
    assert best.output_dir == base_config.output_dir and best.num_train_epochs == 2  # the rest is kept
    assert not (tmp_path / "model").exists()  # trials' models are not kept
    trials = pd.read_csv(study / "trials.csv")
    assert len(trials) == 2 and "params_learning_rate" in trials.columns
    assert bool(trials["user_attrs_as_given"][0]) and pd.isna(trials["params_learning_rate"][0])  # config as given
    again = tune(base_config, study, trials=3, params=["learning_rate", "objective"])  # continues: one more
    assert again.trials_done + again.trials_pruned == 3
    assert len((study / "trials.csv").read_text().strip().splitlines()) == 1 + 3


def test_cli_tune_then_train_the_best(base_config, tmp_path, capsys):
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(base_config.to_dict()))
    study = tmp_path / "cli-study"
    code = main(
        ["tune", "--config", str(config_file), "--study-dir", str(study), "--trials", "2", "--params", "warmup_ratio"]
        + ["--train-best", "-q"]
    )
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "Best validation accuracy" in out and "Trained the best configuration" in out
    assert (tmp_path / "model" / "model.safetensors").is_file()


def test_cli_tune_time_limit_and_bad_input(base_config, tmp_path, capsys):
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(base_config.to_dict()))
    common = ["tune", "--config", str(config_file), "--study-dir", str(tmp_path / "s")]
    assert main([*common, "--timeout", "soon"]) == 2
    assert "--timeout 'soon' is not a duration" in capsys.readouterr().err
    assert main([*common, "--timeout", "0.001s"]) == 2  # the first trial is stopped at once: none finishes
    assert "No trial of the study" in capsys.readouterr().err


def test_a_study_folder_holding_other_things_is_refused_before_a_trial_runs(base_config, tmp_path, capsys):
    """The study deletes its trials' models from trials/ in its folder: a folder it did not write is refused,
    whole, and left as it was (the user's own trials/ included)."""
    theirs = tmp_path / "project"
    (theirs / "trials").mkdir(parents=True)
    (theirs / "trials" / "notes.txt").write_text("mine")
    (theirs / "data.csv").write_text("sentence,score\n")
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(base_config.to_dict()))
    assert main(["tune", "--config", str(config_file), "--study-dir", str(theirs), "--trials", "1"]) == 2
    err = capsys.readouterr().err
    assert "holds what tune did not write (data.csv, trials/)" in err and "Traceback" not in err
    assert sorted(p.relative_to(theirs).as_posix() for p in theirs.rglob("*")) == [
        "data.csv",
        "trials",
        "trials/notes.txt",
    ]
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(("better", "kept"), [(0.45, "as given"), (0.50, "trial")])
def test_a_trial_must_beat_the_config_as_given_by_more_than_the_validation_noise(better, kept):
    import optuna
    from optuna.distributions import FloatDistribution

    from sentscore.integrations.tuning import AS_GIVEN, HALF_WIDTH, surely_better_or_as_given

    study = optuna.create_study(direction="maximize")
    given = optuna.trial.create_trial(value=0.42, user_attrs={AS_GIVEN: True, HALF_WIDTH: 0.05})
    rate = FloatDistribution(1e-5, 3e-4, log=True)
    sampled = optuna.trial.create_trial(
        value=better,
        params={"learning_rate": 1e-4},
        distributions={"learning_rate": rate},
        user_attrs={HALF_WIDTH: 0.05},
    )
    for trial in (given, sampled):
        study.add_trial(trial)
    chosen = surely_better_or_as_given(study, study.trials)
    assert chosen.params == ({} if kept == "as given" else {"learning_rate": 1e-4})


def test_trials_never_score_the_test_file_and_the_best_config_keeps_it(base_config, tmp_path, monkeypatch):
    import dataclasses

    import sentscore.training.results as results

    test_file = write_csv(tmp_path / "test.csv", synthetic_rows(2, seed=5))
    scored = []
    monkeypatch.setattr(results, "test_evaluation", lambda *args: scored.append(args) or {})
    result = tune(dataclasses.replace(base_config, test_file=str(test_file)), tmp_path / "study", trials=2)
    assert result.trials_done >= 1 and scored == []  # chosen on validation alone
    assert TrainConfig.from_file(result.best_config).test_file == str(test_file)
