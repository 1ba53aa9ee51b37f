"""The README's quick start over several seeds: train examples/config.json on examples/data as the demo does
(the CLI, offline), then score the demo's four sentences and two harder ones, per seed and per variant of the
config, with the training seconds of each run.

    .venv/bin/python -m bench.quick_start [--seeds 42 43 44] [--variants "as shipped" "contrastive step"]

Variants run interleaved seed by seed, so that their training seconds are measured under the same load.
Writes bench/results/quick_start.json, or quick_start_bf16.json where training ran in bf16 (a CPU with native
bf16 trains in it by default), so that one machine of each kind keeps its own record.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import PYTHON, ROOT, cpu_name, offline_env, utc_now, write_result

SENTSCORE = [PYTHON, "-m", "sentscore"]  # the CLI of the environment the bench runs in
EXAMPLES = ROOT / "examples"
#: The demo's sentences (scripts/demo.sh) and two that 280 training sentences do not teach, with the score a
#: reader gives each.
SENTENCES = {
    "Delicious food and the friendliest staff in town.": 5,
    "An average hotel: clean enough, nothing special.": 3,
    "It works, but the battery barely lasts a day.": 2,
    "Cold food, rude staff and a bill that was wrong twice.": 1,
    "The pasta was delicious and the staff could not have been kinder.": 5,
    "The worst customer service I have ever had.": 1,
}
#: Config overrides compared: name -> keys set on top of examples/config.json.
VARIANTS: dict[str, dict[str, Any]] = {
    "as shipped": {},
    # as many pairs as make about 300 contrastive steps of 16 on the 280 training sentences
    "contrastive step (18 pairs per sentence)": {"contrastive_pairs": 18},
}


def run_quick_start(seed: int, overrides: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Train the example config with ``seed`` and ``overrides`` in ``workdir``; the scores it gives."""
    shutil.copytree(EXAMPLES / "data", workdir / "data")
    config = {**json.loads((EXAMPLES / "config.json").read_text()), "seed": seed, **overrides}
    (workdir / "config.json").write_text(json.dumps(config))
    started = time.perf_counter()
    trained = subprocess.run(
        [*SENTSCORE, "train", "--config", "config.json", "-q"],
        cwd=workdir,
        env=offline_env(),
        text=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - started
    if trained.returncode:
        raise SystemExit(f"training failed (seed {seed}, {overrides}):\n{trained.stderr[-3000:]}")
    predicted = subprocess.run(
        [*SENTSCORE, "predict", "models", "--json", *SENTENCES],
        cwd=workdir,
        env=offline_env(),
        text=True,
        capture_output=True,
        check=True,
    )
    rows = [json.loads(line) for line in predicted.stdout.splitlines() if line.strip()]
    trained_with = json.loads((workdir / "models" / "sentscore.json").read_text())["config"]
    return {"seed": seed, "wall_seconds": seconds, "bf16": bool(trained_with["bf16"]), "predictions": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    report: dict[str, Any] = {"started": utc_now(), "cpu": cpu_name(), "sentences": SENTENCES, "runs": {}}
    for seed in args.seeds:
        for name in args.variants:
            with tempfile.TemporaryDirectory(prefix="quick-start-") as work:
                run = run_quick_start(seed, VARIANTS[name], Path(work))
            report["runs"].setdefault(name, []).append(run)
            scores = [row["score"] for row in run["predictions"]]
            print(f"{name}, seed {seed}: {run['wall_seconds']:.0f} s, scores {scores}", flush=True)
    in_bf16 = {run["bf16"] for runs in report["runs"].values() for run in runs}
    if len(in_bf16) > 1:
        raise SystemExit("some runs trained in bf16 and some in fp32: set bf16 in every variant or in none")
    print(write_result("quick_start_bf16" if in_bf16 == {True} else "quick_start", report))


if __name__ == "__main__":
    main()
