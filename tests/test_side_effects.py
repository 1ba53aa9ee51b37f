"""Library calls leave the caller's process as they found it: torch's thread count, matplotlib's backend,
the environment and the allocator. Only the CLI, which owns its process, tunes it."""

import ctypes
import os
import subprocess
import sys

import pytest

from sentscore import Scorer, TrainConfig, evaluate, train

from .conftest import synthetic_rows, write_csv
from .test_train import MMAP_PROBE


def small_config(model_dir, tmp_path, **settings) -> TrainConfig:
    data = write_csv(tmp_path / "d.csv", synthetic_rows(4))
    return TrainConfig(
        model_name=str(model_dir),
        train_file=str(data),
        output_dir=str(tmp_path / "out"),
        num_train_epochs=1,
        max_length=16,
        **settings,
    )


@pytest.fixture
def non_agg_matplotlib_backend():
    import matplotlib

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    yield "svg"
    matplotlib.use(before)


def test_train_leaves_threads_backend_and_environment_as_they_were(
    tiny_model_dir, tmp_path, monkeypatch, non_agg_matplotlib_backend
):
    import matplotlib
    import torch

    from sentscore.training import runtime

    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)  # the bf16 path, which tuned the process
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    threads, environment = torch.get_num_threads(), dict(os.environ)
    result = train(small_config(tiny_model_dir, tmp_path, num_threads=1, device="cpu"), show_progress=False)
    assert result.config.bf16 is True and result.config.num_threads == 1
    assert torch.get_num_threads() == threads
    assert matplotlib.get_backend() == non_agg_matplotlib_backend
    assert dict(os.environ) == environment
    assert (tmp_path / "out" / "confusion_matrix.png").stat().st_size > 0  # the plots were still drawn


def test_scoring_and_evaluating_leave_the_thread_count_as_it_was(trained_tiny_dir, labelled_csv):
    import torch

    threads = torch.get_num_threads()
    Scorer.load(trained_tiny_dir, backend="torch", num_threads=1).predict("the food was great")
    evaluate(trained_tiny_dir, labelled_csv, backend="torch")
    assert torch.get_num_threads() == threads


ALLOCATOR_PROBE = f"""
import sys
from sentscore import TrainConfig, train
from sentscore.training import runtime
runtime.cpu_has_native_bf16 = lambda: True  # the bf16 path, which fixed glibc's mmap threshold
config = TrainConfig(model_name=sys.argv[1], train_file=sys.argv[2], output_dir=sys.argv[3], num_train_epochs=1,
                     max_length=16, device="cpu")
train(config, show_progress=False)
sys.argv[1] = "dynamic"
{MMAP_PROBE.replace("from sentscore.training import runtime as training", "")}
"""


@pytest.mark.skipif(not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="needs glibc 2.33 or later")
def test_train_leaves_glibcs_allocator_as_it_was(tiny_model_dir, tmp_path):
    data = write_csv(tmp_path / "d.csv", synthetic_rows(4))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", ALLOCATOR_PROBE, str(tiny_model_dir), str(data), str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    # still glibc's dynamic threshold: the 6 MiB block comes from the heap, as in a process that never trained
    assert done.stdout.strip().splitlines()[-1] == "False"
