"""Training under torchrun with 2 CPU processes (gloo): one model folder, the exact file set, and metrics close
to one process with the same global batch."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from sentscore import TrainConfig, train
from sentscore.model.folder import TRAIN_OUTPUT_FILES

from .conftest import synthetic_rows, write_csv

TORCHRUN = shutil.which("torchrun", path=os.path.dirname(sys.executable))


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun is installed with torch")
def test_two_processes_write_one_model_like_one_process_with_the_same_global_batch(tiny_model_dir, tmp_path):
    data = write_csv(tmp_path / "d.csv", synthetic_rows(16))
    # no dropout at all, so that one process and two draw nothing differently
    model = shutil.copytree(tiny_model_dir, tmp_path / "no-dropout")
    settings = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**settings, "attention_probs_dropout_prob": 0.0}))
    common = {"model_name": str(model), "train_file": str(data), "num_train_epochs": 3, "max_length": 16}
    common |= {"learning_rate": 1e-3, "pooling": "mean", "dropout": 0.0}
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in common.items()]
    out = tmp_path / "two"
    command = [TORCHRUN, "--nproc_per_node", "2", "-m", "sentscore", "train", *flags]
    command += ["--train-batch-size", "4", "--output-dir", str(out), "-q"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert {p.name for p in out.iterdir()} == TRAIN_OUTPUT_FILES
    assert done.stdout.count("Validation metrics") == 1  # one summary, from the main process
    info = json.loads((out / "sentscore.json").read_text())
    assert (info["processes"], info["global_batch_size"]) == (2, 8)
    one = train(TrainConfig(**common, train_batch_size=8, output_dir=str(tmp_path / "one")), show_progress=False)
    two = json.loads((out / "metrics.json").read_text())["final"]
    assert abs(two["loss"] - one.metrics["loss"]) < 0.05
    assert abs(two["accuracy"] - one.metrics["accuracy"]) <= 0.2  # 16 validation sentences: a few may flip
