"""Interrupted training keeps a resumable checkpoint; --resume ends with the model an uninterrupted run makes."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from safetensors.torch import load_file
from transformers import TrainerCallback

from sentscore import TrainConfig, train
from sentscore.errors import SentscoreError
from sentscore.training.recipe import TrainingInterrupted

from .conftest import synthetic_rows, write_csv


def config(model_dir, data, out, **settings) -> TrainConfig:
    return TrainConfig(
        model_name=str(model_dir),
        train_file=str(data),
        output_dir=str(out),
        num_train_epochs=3,
        train_batch_size=4,
        learning_rate=1e-3,
        max_length=16,
        pooling="mean",
        **settings,
    )


class AskToStopAt(TrainerCallback):
    """Sets ``event`` before step ``step``, as the CLI's signal handler does on Ctrl-C."""

    def __init__(self, event, step):
        self.event, self.step = event, step

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            self.event.set()


def test_a_resumed_run_ends_with_the_model_of_an_uninterrupted_one(tiny_model_dir, tmp_path):
    data = write_csv(tmp_path / "d.csv", synthetic_rows(8))
    train(config(tiny_model_dir, data, tmp_path / "whole"), show_progress=False)
    stop = threading.Event()
    with pytest.raises(TrainingInterrupted) as interrupted:
        train(config(tiny_model_dir, data, tmp_path / "cut"), False, [AskToStopAt(stop, 13)], stop=stop)
    checkpoint = interrupted.value.checkpoint
    assert checkpoint.name == "checkpoint-14" and (checkpoint / "optimizer.pt").is_file()  # mid-epoch 2 of 3
    assert not (tmp_path / "cut" / "model.safetensors").exists()  # no half-trained model posing as the result
    train(config(tiny_model_dir, data, tmp_path / "cut", resume=True), show_progress=False)
    whole, resumed = (
        load_file(tmp_path / "whole" / "model.safetensors"),
        load_file(tmp_path / "cut" / "model.safetensors"),
    )
    assert whole.keys() == resumed.keys()
    assert all(whole[name].equal(resumed[name]) for name in whole)
    assert not (tmp_path / "cut" / ".checkpoints").exists()  # a finished run's checkpoints go


def test_resume_without_a_checkpoint_says_so(tiny_model_dir, tmp_path):
    data = write_csv(tmp_path / "d.csv", synthetic_rows(4))
    with pytest.raises(SentscoreError, match="nothing to resume") as info:
        train(config(tiny_model_dir, data, tmp_path / "out", resume=True))
    assert "without --resume" in info.value.hint


def test_ctrl_c_in_the_cli_keeps_a_checkpoint_and_prints_the_command_that_resumes(tiny_model_dir, tmp_path):
    data = write_csv(tmp_path / "d.csv", synthetic_rows(12))
    out = tmp_path / "out"
    args = ["train", "--model-name", tiny_model_dir, "--train-file", data, "--output-dir", out, "--max-length", "16"]
    args += ["--num-train-epochs", "6", "--train-batch-size", "4", "--pooling", "mean"]
    command = [sys.executable, "-m", "sentscore", *map(str, args)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120
    while not (out / ".checkpoints").is_dir() and time.time() < deadline:  # the first epoch's checkpoint
        assert process.poll() is None, process.communicate()[0]
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    flat = " ".join(stderr.split())
    assert "Training was interrupted" in flat and "--resume" in flat and "Traceback" not in stderr
    resume = flat.split("Continue where it stopped with: ")[1].split(" --resume")[0].split()
    assert resume[:2] == ["sentscore", "train"]
    done = subprocess.run([*command, "--resume", "-q"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "sentscore.json").read_text())["config"]["resume"] is True


def test_an_interrupted_run_saves_once_at_the_step_it_stops_and_does_not_evaluate_there(tiny_model_dir, tmp_path):
    data = write_csv(tmp_path / "d.csv", synthetic_rows(8))
    stop = threading.Event()
    saves = []

    class CountSaves(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            saves.append(state.global_step)

    with pytest.raises(TrainingInterrupted) as interrupted:
        train(config(tiny_model_dir, data, tmp_path / "cut"), False, [AskToStopAt(stop, 13), CountSaves()], stop=stop)
    assert saves == [8, 14]  # the first epoch's end, then the step it stopped at, once
    state = json.loads((interrupted.value.checkpoint / "trainer_state.json").read_text())
    assert [e["step"] for e in state["log_history"] if "eval_loss" in e] == [8]  # no evaluation mid-epoch


def test_the_order_of_an_epochs_batches_comes_from_the_seed_and_the_epoch_alone():
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from sentscore.training.trainer import EpochSeeded

    sampler = EpochSeeded(LengthGroupedSampler(4, lengths=[3, 9, 4, 7, 5, 8, 6, 2] * 4), seed=42)
    sampler.set_epoch(1)
    first = list(sampler)
    torch.manual_seed(0)  # dropout moves the global random state between epochs
    torch.rand(1000)
    assert list(sampler) == first
    sampler.set_epoch(2)
    assert list(sampler) != first
