"""Training on the 2 cores two ways, with the same global batch of 16: 2 processes x 1 thread each under
`torchrun` (gloo, 8 sentences per process) against 1 process x 2 threads (16 sentences), alternated, in one run.

    .venv/bin/python -m bench.processes [--sentences 3000] [--epochs 1] [--repeats 2]

Trains on a seeded sample of SST-5 train through the CLI (the way a user launches either) and reads each
run's training seconds and validation metrics from its model folder. Writes bench/results/processes.json
(rendered by `python -m bench.report`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import PYTHON, SST5, machine, offline_env, utc_now, write_result

WAYS = {
    "2 processes x 1 thread": {"processes": 2, "threads": 1, "batch": 8},
    "1 process x 2 threads": {"processes": 1, "threads": 2, "batch": 16},
}


def sample(path: Path, sentences: int) -> Path:
    import pandas as pd

    pd.read_csv(SST5 / "train.csv").sample(n=sentences, random_state=0).to_csv(path, index=False)
    return path


def train_once(way: str, data: Path, epochs: int, out: Path) -> dict[str, Any]:
    setup = WAYS[way]
    flags = ["train", "--train-file", str(data), "--output-dir", str(out), "--num-train-epochs", str(epochs)]
    flags += ["--train-batch-size", str(setup["batch"]), "--num-threads", str(setup["threads"]), "--seed", "42", "-q"]
    if setup["processes"] > 1:
        torchrun = str(Path(PYTHON).with_name("torchrun"))
        command = [torchrun, "--nproc_per_node", str(setup["processes"]), "-m", "sentscore", *flags]
    else:
        command = [PYTHON, "-m", "sentscore", *flags]
    env = {**offline_env(), "OMP_NUM_THREADS": str(setup["threads"])}
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    final = json.loads((out / "metrics.json").read_text())["final"]
    info = json.loads((out / "sentscore.json").read_text())
    shutil.rmtree(out)
    return {
        "way": way,
        "wall_seconds": wall,
        "train_seconds": info["train_seconds"],
        "global_batch_size": info["global_batch_size"],
        "accuracy": final["accuracy"],
        "qwk": final["qwk"],
        "loss": final["loss"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        data = sample(Path(tmp) / "train.csv", args.sentences)
        for repeat in range(args.repeats):
            for way in WAYS if repeat % 2 == 0 else reversed(list(WAYS)):
                run = train_once(way, data, args.epochs, Path(tmp) / "model")
                runs.append(run)
                print(f"[processes] {json.dumps(run)}", flush=True)
    write_result(
        "processes",
        {
            "machine": machine(),
            "when": utc_now(),
            "cores": os.cpu_count(),
            "sentences": args.sentences,
            "epochs": args.epochs,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
