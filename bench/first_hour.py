"""The first hour: how close `train --dry-run`'s estimate comes to the training it describes, and what the ONNX
export at the end of training costs (seconds, disk) and gives (a cold `sentscore predict`).

For the example data (examples/config.json, as the quick start trains it) and SST-5 (one epoch of the defaults):
the dry run's expected seconds, then the training's own seconds; the export's seconds and the folder's size with
and without it; then a cold `sentscore predict` of one sentence in a new process, with the torch backend and with
the default (the export), alternated, three of each.

.venv/bin/python -m bench.first_hour        # writes bench/results/first_hour.json (about 5 minutes on 2 cores)
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import PYTHON, ROOT, SST5, cpu_name, offline_env, utc_now, write_result

COLD_RUNS = 3
SENTENCE = "The food was wonderful and the staff were friendly."


def cases(workdir: Path) -> dict[str, Any]:
    from sentscore import TrainConfig

    examples = TrainConfig.from_file(ROOT / "examples" / "config.json", {"output_dir": str(workdir / "examples")})
    sst5 = TrainConfig(
        train_file=str(SST5 / "train.csv"),
        validation_file=str(SST5 / "dev.csv"),
        num_train_epochs=1,
        output_dir=str(workdir / "sst5"),
    )
    return {"examples/config.json": examples, "SST-5, 1 epoch of the defaults": sst5}


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def cold_predict_seconds(folder: Path, backend: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [PYTHON, "-m", "sentscore", "predict", str(folder), SENTENCE, "-q", "--backend", backend],
        check=True,
        capture_output=True,
        env=offline_env(),
    )
    return time.perf_counter() - started


def measure(config: Any) -> dict[str, Any]:
    from sentscore import train
    from sentscore.training.plan import dry_run

    plan = dry_run(config)
    result = train(config, show_progress=False)
    folder = Path(result.output_dir)
    cold: dict[str, list[float]] = {"torch": [], "auto": []}
    for _ in range(COLD_RUNS):
        for backend in cold:
            cold[backend].append(cold_predict_seconds(folder, backend))
    return {
        "expected_seconds": plan.seconds,
        "expected_per_epoch": plan.seconds_per_epoch,
        "train_seconds": result.train_seconds,
        "epochs": float(result.config.num_train_epochs),
        "export_seconds": result.onnx_export["seconds"],
        "folder_bytes": folder_bytes(folder),
        "onnx_bytes": sum(path.stat().st_size for path in folder.glob("model.onnx*")),  # the graph and its weights
        "cold_predict": {backend: statistics.median(times) for backend, times in cold.items()},
    }


def main() -> None:
    found: dict[str, Any] = {"when": utc_now(), "cpu": cpu_name(), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in cases(Path(tmp)).items():
            found["runs"][name] = measure(config)
            print(name, found["runs"][name], flush=True)
    print("wrote", write_result("first_hour", found))


def first_hour_section(result: dict[str, Any]) -> list[str]:
    lines = [
        "## The first hour: dry run, export at the end of training (`python -m bench.first_hour`)",
        "",
        f"{result['when']}, {result['cpu']}. 'Expected' is `train --dry-run`'s estimate (a few steps timed); "
        "'trained' is the training's own seconds (fit, calibration, conformal scores), without the export. A "
        f"cold predict is one sentence in a new process, median of {COLD_RUNS}, torch and the export alternated.",
        "",
        "| data | expected s | trained s | expected / trained | export s | folder MB without → with model.onnx | "
        "cold predict, torch s | cold predict, ONNX s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in result["runs"].items():
        without = (run["folder_bytes"] - run["onnx_bytes"]) / 1e6
        lines.append(
            f"| {name} | {run['expected_seconds']:.0f} | {run['train_seconds']:.0f} | "
            f"{run['expected_seconds'] / run['train_seconds']:.2f} | {run['export_seconds']:.1f} | "
            f"{without:.0f} → {run['folder_bytes'] / 1e6:.0f} | {run['cold_predict']['torch']:.2f} | "
            f"{run['cold_predict']['auto']:.2f} |"
        )
    return [*lines, ""]


if __name__ == "__main__":
    main()
