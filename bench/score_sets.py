"""Score sets compared on the dev sets: contiguous ranges grown from the most likely level (sentscore 0.2's),
sets of the likeliest levels (adaptive prediction sets, not randomised; sentscore's default since 0.3), and
LAC sets (every level whose probability clears one threshold; Sadinle et al. 2019), here for comparison only.

    .venv/bin/python -m bench.score_sets [--config "defaults"] [--splits 200]

It reads the dev probabilities that bench.quality kept for each run (the calibrated model as saved), splits
each dev set at random into halves many times, calibrates every method on one half and measures it on the
other: coverage, mean size, how often a set leaves out a level more likely than one it holds, and how often it
has a gap. Written to bench/results/score_sets.json; ``python -m bench.report`` renders it.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pandas as pd

from sentscore.model.conformal import METHODS, nonconformity, score_sets, threshold

from .common import RESULTS, cpu_name, utc_now
from .quality import DATASETS, load_results
from .quality_report import label

COVERAGE = 0.9
OUT = RESULTS / "score_sets.json"


def lac_sets(calibration: np.ndarray, labels: np.ndarray, test: np.ndarray, coverage: float) -> np.ndarray:
    """LAC: a level is in the set when 1 - its probability is within the conformal quantile of the held-out
    sentences' 1 - p(true level) (the likeliest level always, so that no set is empty)."""
    scores = 1.0 - calibration[np.arange(len(labels)), labels]
    cut = threshold(scores, coverage)
    mask = (1.0 - test) <= cut + 1e-9
    mask[np.arange(len(test)), test.argmax(1)] = True
    return mask


def method_sets(method: str, calibration, labels, test) -> np.ndarray:
    if method == "lac":
        return lac_sets(calibration, labels, test, COVERAGE)
    return score_sets(test, threshold(nonconformity(calibration, labels, method), COVERAGE), method)


def measure(mask: np.ndarray, probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Coverage (overall, and of the least and the most confident third of the sentences), mean size, share of
    sets that leave out a level more likely than one they hold, share with a gap between their levels."""
    rows = np.arange(len(labels))
    least_in = np.where(mask, probs, np.inf).min(1)
    most_out = np.where(mask, -np.inf, probs).max(1)
    span = mask.shape[1] - mask[:, ::-1].argmax(1) - mask.argmax(1)
    covered = mask[rows, labels]
    confidence = probs.max(1)
    low, high = np.quantile(confidence, [1 / 3, 2 / 3])
    return {
        "coverage": float(covered.mean()),
        # adaptivity: coverage of the least and of the most confident third of the sentences
        "coverage_least_confident": float(covered[confidence <= low].mean()),
        "coverage_most_confident": float(covered[confidence >= high].mean()),
        "mean_size": float(mask.sum(1).mean()),
        "excludes_more_likely": float((most_out > least_in + 1e-12).mean()),
        "has_gap": float((span > mask.sum(1)).mean()),
    }


def run(config: str, splits: int) -> dict:
    table = {}
    for result in load_results():
        if (
            label(result).removesuffix(", bf16") != config
            or result["data"] not in ("sst5", "semeval_4c")
            or "dev_probabilities" not in result
        ):
            continue
        folder, _ = DATASETS[result["data"]]
        labels = (pd.read_csv(folder / "dev.csv")["score"] - 1).to_numpy()
        probs = np.asarray(result["dev_probabilities"], dtype=np.float64)
        probs /= probs.sum(1, keepdims=True)  # kept rounded to 4 places
        rng = np.random.default_rng(result["seed"])
        per_method: dict[str, list[dict[str, float]]] = {m: [] for m in (*METHODS, "lac")}
        for _ in range(splits):
            order = rng.permutation(len(labels))
            cal, test = order[: len(order) // 2], order[len(order) // 2 :]
            for method, found in per_method.items():
                mask = method_sets(method, probs[cal], labels[cal], probs[test])
                found.append(measure(mask, probs[test], labels[test]))
        entry = table.setdefault(result["data"], {})
        if str(result["seed"]) in entry:
            continue  # the same seed under both names of the defaults
        entry[str(result["seed"])] = {
            m: {k: float(np.mean([f[k] for f in found])) for k in found[0]} for m, found in per_method.items()
        }
    return table


def summarise(table: dict) -> dict:
    """Mean and standard deviation over seeds of each measure, per data set and method."""
    summary = {}
    for data, seeds in table.items():
        methods = next(iter(seeds.values()))
        summary[data] = {
            method: {
                key: [float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else math.nan]
                for key in methods[method]
                for v in [[seeds[s][method][key] for s in seeds]]
            }
            for method in methods
        }
        summary[data]["seeds"] = sorted(seeds)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--config", default="defaults", help="the configuration whose runs to read, as the quality report names it"
    )
    parser.add_argument("--splits", type=int, default=200)
    args = parser.parse_args()
    table = run(args.config, args.splits)
    record = {
        "started": utc_now(),
        "cpu": cpu_name(),
        "config": args.config,
        "coverage": COVERAGE,
        "splits": args.splits,
        "runs": table,
        "summary": summarise(table),
    }
    previous = json.loads(OUT.read_text()) if OUT.is_file() else {}
    previous[args.config] = record
    OUT.write_text(json.dumps(previous, indent=2) + "\n")
    print(json.dumps(record["summary"], indent=1))


if __name__ == "__main__":
    main()
