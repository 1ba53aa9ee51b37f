"""Runs tracked through report_to: TensorBoard's event files and a local MLflow store, read back with each
tool's own reader (offline), on the tiny model."""

import json

import pytest

from sentscore import TrainConfig, train
from sentscore.errors import SentscoreError

from .test_training_options import small_config


def test_the_trainers_tracker_names_are_the_ones_config_takes():
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    from sentscore.config import TRACKERS

    assert set(TRACKERS) == {"none", "all", *INTEGRATION_TO_CALLBACK}


def test_report_to_is_checked_with_the_rest_of_the_config():
    with pytest.raises(SentscoreError) as raised:
        TrainConfig.from_dict({"report_to": "tensorbord", "run_name": 3, "train_batch_size": 0})
    message = str(raised.value)
    assert "tensorbord" in message and "train_batch_size" in message
    with pytest.raises(SentscoreError, match="none or all alone"):
        TrainConfig.from_dict({"report_to": ["none", "mlflow"]})
    assert TrainConfig.from_dict({"report_to": "tensorboard,mlflow"}).report_to == ["tensorboard", "mlflow"]


def test_a_tracker_that_is_not_installed_is_refused_before_training(tiny_model_dir, tmp_path):
    config = small_config(tiny_model_dir, tmp_path, report_to=["clearml"])
    with pytest.raises(SentscoreError, match="clearml.*not installed") as raised:
        train(config, show_progress=False)
    assert "pip install clearml" in raised.value.hint
    assert not (tmp_path / "out").exists()


def test_tensorboard_gets_the_trainers_logs_and_sentscores_results_in_the_model_folder(tiny_model_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = small_config(tiny_model_dir, tmp_path, report_to=["tensorboard"], run_name="first")
    result = train(config, show_progress=False)
    run = tmp_path / "out" / "runs" / "first"
    assert run.is_dir()
    events = EventAccumulator(str(run))
    events.Reload()
    scalars = events.Tags()["scalars"]
    # the Trainer's own logs, one value per epoch for validation
    assert [e.step for e in events.Scalars("eval/accuracy")] == [e["step"] for e in result.epochs]
    assert "train/loss" in scalars
    # sentscore's: the final metrics with their intervals, calibration, time
    final = events.Scalars("final/accuracy")[0].value
    assert final == pytest.approx(result.metrics["accuracy"])
    low = events.Scalars("final/accuracy_low")[0].value
    assert low == pytest.approx(result.metrics["intervals"]["accuracy"][0])
    assert {"calibration/ece_before", "calibration/ece_after", "time/train_seconds"} <= set(scalars)
    text = events.Tensors("sentscore/config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert json.loads(text.strip("`\n"))["objective"] == result.config.objective
    saved = json.loads((tmp_path / "out" / "sentscore.json").read_text())["config"]
    assert saved["run_name"] == "first" and saved["logging_dir"] == str(tmp_path / "out" / "runs")


def test_mlflow_gets_a_run_with_the_resolved_config_final_metrics_and_the_card(tiny_model_dir, tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)  # MLflow's artifacts go to ./mlruns beside a sqlite store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    try:
        config = small_config(tiny_model_dir, tmp_path, report_to=["mlflow"], run_name="mine")
        result = train(config, show_progress=False)
        client = MlflowClient(uri)
        [run] = client.search_runs(["0"])
    finally:
        mlflow.set_tracking_uri(None)
    assert run.info.run_name == "mine" and run.info.status == "FINISHED"
    assert run.data.params["sentscore.objective"] == result.config.objective
    assert run.data.params["sentscore.freeze_layers"] == str(result.config.freeze_layers)
    assert run.data.metrics["final/accuracy"] == pytest.approx(result.metrics["accuracy"])
    assert "final/qwk_high" in run.data.metrics and "calibration/ece_after" in run.data.metrics
    history = client.get_metric_history(run.info.run_id, "eval_accuracy")
    assert len(history) == len(result.epochs)  # the Trainer's per-epoch log, into the same run
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "model_folder")}
    assert {"model_folder/README.md", "model_folder/metrics.json", "model_folder/confusion_matrix.png"} <= artifacts


def test_tune_logs_each_trial_as_a_nested_mlflow_run_and_a_tensorboard_run(tiny_model_dir, tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    import mlflow
    from mlflow.tracking import MlflowClient

    from sentscore.integrations.tuning import tune

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    try:
        config = small_config(tiny_model_dir, tmp_path, report_to=["mlflow", "tensorboard"], run_name="search")
        tune(config, tmp_path / "study", trials=2, params=["warmup_ratio"])
        runs = MlflowClient(uri).search_runs(["0"])
    finally:
        mlflow.set_tracking_uri(None)
    [parent] = [r for r in runs if r.info.run_name == "search"]
    trials = sorted(r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id)
    assert trials == ["search-trial-0", "search-trial-1"]
    assert sorted(p.name for p in (tmp_path / "study" / "runs").iterdir()) == trials  # outlive the trials' models
