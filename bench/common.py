"""What every benchmark shares: where things are, which data to use, the machine, its matmul peak, and the
result files under bench/results/."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SST5 = ROOT.parent / "shared" / "data" / "sst5"
SEMEVAL = ROOT.parent / "shared" / "data" / "semeval_4c"
EXAMPLE_DATA = ROOT / "examples" / "data" / "dataset.csv"
PYTHON = sys.executable


# ---- data ------------------------------------------------------------------------------------------------


def pick_data(workdir: Path, examples_only: bool = False) -> tuple[str, str, str]:
    """Training file, dev file and a name for them: SST-5 when present, else the example data split 80/20
    into ``workdir``."""
    if not examples_only and (SST5 / "train.csv").is_file() and (SST5 / "dev.csv").is_file():
        return str(SST5 / "train.csv"), str(SST5 / "dev.csv"), "SST-5 (../shared/data/sst5)"
    import pandas as pd

    frame = pd.read_csv(EXAMPLE_DATA).sample(frac=1.0, random_state=0)
    cut = int(len(frame) * 0.8)
    frame[:cut].to_csv(workdir / "train.csv", index=False)
    frame[cut:].to_csv(workdir / "dev.csv", index=False)
    return str(workdir / "train.csv"), str(workdir / "dev.csv"), "examples/data/dataset.csv (80/20)"


def sst5_or_examples(split: str) -> Path:
    """SST-5's ``split`` file ("train" or "dev") when present, else the whole example data file."""
    path = SST5 / f"{split}.csv"
    return path if path.is_file() else EXAMPLE_DATA


# ---- the machine -----------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """The CPU, memory and library versions a benchmark ran with."""
    import onnxruntime
    import torch
    import transformers

    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnxruntime": onnxruntime.__version__,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
    }


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (where there is one), else what platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


#: What a result measured on a CPU that does not multiply bf16 natively adds to its name.
WITHOUT_BF16 = "_without_bf16"


def for_this_cpu(name: str) -> str:
    """The name of this machine's result ``name``: as it is on a CPU that multiplies bf16 natively (where sentscore
    trains in bf16 and ``--backend auto`` may run OpenVINO), else with :data:`WITHOUT_BF16`, so that a run on one kind
    of CPU never replaces the other kind's figures."""
    from sentscore.training.runtime import cpu_has_native_bf16

    return name if cpu_has_native_bf16() else name + WITHOUT_BF16


def matmul_peak(size: int = 2048, repeats: int = 7, dtype: str = "float32") -> float:
    """GFLOP/s of a large square matrix product on all cores, in ``dtype`` (fp32 by default; bfloat16 for
    the ceiling of mixed-precision steps): the machine's practical peak.

    The best of the repeats, not their median: on a shared virtual machine other tenants can only slow a
    repeat down, and a higher peak makes every share of it reported here smaller, never larger.
    """
    import torch

    a, b = (torch.randn(size, size, dtype=getattr(torch, dtype)) for _ in range(2))
    for _ in range(3):
        a @ b
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(5):
            a @ b
        rates.append(5 * 2 * size**3 / (time.perf_counter() - started) / 1e9)
    return max(rates)


def utc_now() -> str:
    """The time a measurement started, as the results record it."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def offline_env() -> dict[str, str]:
    """The environment for a sentscore or reference process: the bundled model needs no network."""
    return {**os.environ, "HF_HUB_OFFLINE": "1"}


# ---- results ---------------------------------------------------------------------------------------------


def result_path(name: str) -> Path:
    """bench/results/<name>.json."""
    return RESULTS / f"{name}.json"


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``data`` to bench/results/<name>.json; returns the path."""
    path = result_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def has_result(name: str) -> bool:
    return result_path(name).is_file()


def read_result(name: str) -> dict[str, Any]:
    """The contents of bench/results/<name>.json (which must exist: see :func:`has_result`)."""
    return json.loads(result_path(name).read_text())
