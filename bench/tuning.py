"""A real tuning run against the defaults: `sentscore.tune` searches on a seeded sample of SST-5 train (300
sentences per level) with its own 20% validation split, bounded by trials and time; then the defaults and the
best configuration found are each trained with seeds 42, 43, 44 on the same sample and scored on SST-5 dev,
which the search never saw.

    .venv/bin/python -m bench.tuning [--per-level 300] [--trials 10] [--timeout-min 45]

Resumable: the study lives in bench/results/tuning_study/ (not in git), and each finished comparison run is
kept in bench/results/tuning.json. Rendered by `python -m bench.report`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import RESULTS, SST5, has_result, machine, read_result, utc_now, write_result
from .quality import run_sentscore

STUDY = RESULTS / "tuning_study"
SEEDS = (42, 43, 44)
SAMPLE_SEED = 0


def training_sample(per_level: int, folder: Path) -> str:
    """The same seeded sample of SST-5 train, for the search and for both sides of the comparison."""
    import pandas as pd

    frame = pd.read_csv(SST5 / "train.csv")
    sample = frame.groupby("score", group_keys=False).sample(n=per_level, random_state=SAMPLE_SEED)
    path = folder / f"sst5_train_{per_level}_per_level.csv"
    sample.sample(frac=1.0, random_state=SAMPLE_SEED).to_csv(path, index=False)
    return str(path)


def search(train_csv: str, trials: int, timeout_s: float) -> dict[str, Any]:
    import torch

    from sentscore import TrainConfig
    from sentscore.integrations.tuning import tune

    torch.set_num_threads(1)  # like every quality run: one thread, so that the figures compare
    config = TrainConfig.from_dict(
        {"train_file": train_csv, "output_dir": str(STUDY / "unused"), "num_threads": 1, "seed": 42}
    )
    started = time.perf_counter()
    result = tune(config, STUDY, trials=trials, timeout_s=timeout_s, seed=SAMPLE_SEED)
    return {
        "metric": config.metric_for_best_model,
        "best_validation_value": result.best_value,
        "best_params": result.best_params,
        "trials_done": result.trials_done,
        "trials_pruned": result.trials_pruned,
        "search_seconds": time.perf_counter() - started,
        "kept_as_given": result.kept_as_given,
        "trials_table": (STUDY / "trials.csv").read_text(),
    }


def compare(train_csv: str, best_params: dict[str, Any], record: dict[str, Any]) -> None:
    """Train the defaults and the best configuration per seed; the record is written after each run."""
    runs = record.setdefault("runs", {})
    sides = (("defaults", {}), ("tuned", best_params)) if best_params else (("defaults", {}),)
    for seed in SEEDS:  # a search that kept the config as given recommends the defaults: nothing else to train
        for name, overrides in sides:
            key = f"{name}__s{seed}"
            if key in runs:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                figures = run_sentscore(train_csv, str(SST5 / "dev.csv"), overrides, seed, Path(tmp))
            runs[key] = {"name": name, "seed": seed, "train_seconds": figures["train_seconds"], "dev": figures["dev"]}
            runs[key]["validation"] = {k: figures["validation"].get(k) for k in ("accuracy", "qwk", "mae")}
            write_result("tuning", record)
            print(f"[tuning] {key}: {json.dumps({k: figures['dev'][k] for k in ('accuracy', 'qwk', 'mae')})}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-level", type=int, default=300)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--timeout-min", type=float, default=45.0)
    args = parser.parse_args()
    STUDY.mkdir(parents=True, exist_ok=True)
    train_csv = training_sample(args.per_level, STUDY)
    record = read_result("tuning") if has_result("tuning") else {}
    if "search" not in record:
        record = {
            **record,  # comparison runs of the defaults already made stay
            "machine": machine(),
            "when": utc_now(),
            "train": f"SST-5 train, {args.per_level} sentences per level (sample seed {SAMPLE_SEED})",
            "dev": str(SST5 / "dev.csv"),
            "trials_asked": args.trials,
            "timeout_min": args.timeout_min,
            "search": search(train_csv, args.trials, args.timeout_min * 60),
        }
        write_result("tuning", record)
    print(f"[tuning] best: {record['search']['best_params']}")
    compare(train_csv, record["search"]["best_params"], record)


if __name__ == "__main__":
    main()
