"""Nothing lost, nothing unsafe: writes land whole (tested with SIGKILL at many points), files that changed
since they were written are reported, and pickle checkpoints are refused unless allowed."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from sentscore import Scorer, TrainConfig, train
from sentscore.errors import SentscoreError

from .conftest import synthetic_rows, write_csv

TRAIN_SCRIPT = """
import sys
from sentscore import TrainConfig, train
config = TrainConfig(model_name=sys.argv[1], train_file=sys.argv[2], output_dir=sys.argv[3], num_train_epochs=1,
                     max_length=16, overwrite=True, pooling="mean")
train(config, show_progress=False)
"""
EXPORT_SCRIPT = "import sys; from sentscore import export_onnx; export_onnx(sys.argv[1], quantize='int8')"


def run_and_kill(command: list[str], delay: float) -> None:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


@pytest.fixture
def folder_copy(trained_tiny_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(trained_tiny_dir, copy)
    return copy


def test_a_killed_training_leaves_the_old_model_or_the_new_one_whole(tiny_model_dir, folder_copy, tmp_path):
    data = write_csv(tmp_path / "d.csv", synthetic_rows(4))
    command = [sys.executable, "-c", TRAIN_SCRIPT, str(tiny_model_dir), str(data), str(folder_copy)]
    whole = timed(command)  # one uninterrupted run, which also makes "new" a possible state
    rng = random.Random(0)
    seen = set()
    for _ in range(4):  # kill points in the run's last part, where the folder is written (before: imports)
        run_and_kill(command, whole * rng.uniform(0.7, 1.05))
        info = json.loads((folder_copy / "sentscore.json").read_text())
        seen.add(info["trained_at"])
        scorer = Scorer.load(folder_copy, backend="torch")  # loads, and its checksum matches
        assert np.isfinite(scorer.predict_proba(["the food was great"])).all()
    assert seen  # every kill left a loadable model


def test_a_killed_export_leaves_no_half_written_onnx_file(folder_copy):
    command = [sys.executable, "-c", EXPORT_SCRIPT, str(folder_copy)]
    whole = timed(command)
    rng = random.Random(1)
    for _ in range(4):
        run_and_kill(command, whole * rng.uniform(0.3, 1.0))
        for name in ("model.onnx", "model.int8.onnx"):
            if (folder_copy / name).exists():
                probs = Scorer.load(folder_copy, backend="onnx", onnx_file=name).predict_proba(["fine"])
                assert np.isfinite(probs).all()


def test_a_file_and_its_companions_are_renamed_into_place_together_or_not_at_all(tmp_path):
    from sentscore import atomic

    graph, data = tmp_path / "model.onnx", tmp_path / "model.onnx.data"
    graph.write_text("old graph")
    data.write_text("old weights")
    with pytest.raises(RuntimeError), atomic.replacing_with_companions(graph, data.name) as new:
        new.write_text("new graph")
        new.with_name(data.name).write_text("new weights")
        raise RuntimeError("the check after writing failed")
    assert (graph.read_text(), data.read_text()) == ("old graph", "old weights")
    with atomic.replacing_with_companions(graph, data.name) as new:
        new.write_text("new graph")
        new.with_name(data.name).write_text("new weights")
        os.chmod(new.with_name(data.name), 0o600)  # as onnx writes external data
    assert (graph.read_text(), data.read_text()) == ("new graph", "new weights")
    assert data.stat().st_mode == graph.stat().st_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "model.onnx.data"]  # nothing left beside
    with atomic.replacing_with_companions(graph, data.name) as new:
        new.write_text("a graph that keeps its weights inside")
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # the weights of the graph replaced went with it


def test_a_truncated_weights_file_is_reported_as_such(folder_copy):
    weights = folder_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(SentscoreError, match="model.safetensors is not the file sentscore wrote") as info:
        Scorer.load(folder_copy, backend="torch")
    assert "truncated, replaced or edited" in info.value.message


def test_a_swapped_onnx_file_is_reported_as_such(folder_copy):
    from sentscore.scoring.export import export_onnx

    export_onnx(folder_copy, quantize="int8")
    shutil.copy(folder_copy / "model.onnx", folder_copy / "model.int8.onnx")
    with pytest.raises(SentscoreError, match="model.int8.onnx is not the file sentscore wrote"):
        Scorer.load(folder_copy, backend="onnx")
    assert Scorer.load(folder_copy, backend="onnx", onnx_file="model.onnx").backend == "onnx"


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_a_truncated_export_is_reported_as_such_though_it_cannot_load_either(folder_copy, backend):
    from sentscore.scoring.export import export_onnx
    from sentscore.scoring.openvino_backend import openvino_installed

    if backend == "openvino" and not openvino_installed():
        pytest.skip("OpenVINO is not installed (the openvino extra)")
    export_onnx(folder_copy)
    export = folder_copy / "model.onnx"
    export.write_bytes(export.read_bytes()[: export.stat().st_size // 2])
    with pytest.raises(SentscoreError, match="model.onnx is not the file sentscore wrote"):
        Scorer.load(folder_copy, backend=backend)


def test_a_scored_file_appears_whole_or_not_at_all(trained_tiny_dir, tmp_path, monkeypatch):
    import pandas as pd

    source = tmp_path / "in.csv"
    source.write_text("sentence\nthe food was great\nawful\n")
    out = tmp_path / "out.csv"
    out.write_text("sentence,score\nthe previous file,3\n")

    def fail_half_way(self, path_or_buffer, **kwargs):
        if hasattr(path_or_buffer, "write"):  # the scorer writes chunk by chunk into an open file
            path_or_buffer.write("sentence,sco")  # a partial write, then the failure
        else:
            with open(path_or_buffer, "w") as handle:
                handle.write("sentence,sco")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail_half_way)
    with pytest.raises(OSError, match="disk full"):
        Scorer.load(trained_tiny_dir, backend="torch").score_file(source, out, show_progress=False)
    assert out.read_text() == "sentence,score\nthe previous file,3\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_a_pickle_only_base_model_is_refused_unless_allowed(tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoTokenizer, BertModel

    pickled = tmp_path / "pickled"
    model = BertModel.from_pretrained(str(tiny_model_dir))
    model.config.save_pretrained(pickled)
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")  # the old format, as many checkpoints have it
    AutoTokenizer.from_pretrained(str(tiny_model_dir)).save_pretrained(pickled)
    assert (pickled / "pytorch_model.bin").is_file() and not list(pickled.glob("*.safetensors"))
    data = write_csv(tmp_path / "d.csv", synthetic_rows(4))
    config = TrainConfig(model_name=str(pickled), train_file=str(data), output_dir=str(tmp_path / "o"), max_length=16)
    with pytest.raises(SentscoreError, match="only a pickle checkpoint") as info:
        train(config)
    assert "--allow-pickle" in info.value.hint
    allowed = TrainConfig(**{**config.to_dict(), "allow_pickle": True, "num_train_epochs": 1})
    assert train(allowed, show_progress=False).train_samples > 0
    assert os.path.isfile(tmp_path / "o" / "model.safetensors")  # what sentscore writes is safetensors
