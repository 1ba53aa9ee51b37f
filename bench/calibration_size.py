"""How many validation sentences temperature scaling needs before it helps.

For the default configuration's runs in bench/results/quality (each data set, each seed), the dev set's
probabilities as trained are recovered from the saved (calibrated) ones and the recorded temperature. Then, many
times over, a temperature is fitted on n dev sentences drawn at random and the expected calibration error is
measured on the rest of dev, with that temperature and without one. No training: it reads saved results.

.venv/bin/python -m bench.calibration_size        # writes bench/results/calibration_size.json
"""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np

from .common import utc_now, write_result
from .quality import SAME_AS_DEFAULTS, load_results
from .shift import dev_truth

SIZES = (10, 20, 35, 50, 75, 100, 150, 200, 400)
DRAWS = 200
DATA = ("sst5", "semeval_4c", "sst5_64")


def as_trained_logits(saved: np.ndarray, temperature: float) -> np.ndarray:
    """Logits (up to a constant per sentence) of the model before calibration: softmax(logits / T) was saved."""
    return temperature * np.log(np.clip(saved, 1e-4, None))


def runs_of(data: str) -> list[dict[str, Any]]:
    """One default-configuration run per seed of ``data`` with its calibration recorded."""
    chosen: dict[int, dict[str, Any]] = {}
    for run in load_results():
        if run["data"] == data and run["config"] in (SAME_AS_DEFAULTS, "defaults") and run.get("calibration"):
            chosen.setdefault(run["seed"], run)
    return [chosen[seed] for seed in sorted(chosen)]


def effect_of_size(logits: np.ndarray, truth: np.ndarray, size: int, rng: np.random.Generator) -> dict[str, float]:
    """Over DRAWS draws of ``size`` fitting sentences: the mean change of the held-out ECE and the share of
    draws in which calibrating made it worse."""
    from sentscore.metrics import expected_calibration_error
    from sentscore.model.objectives import OBJECTIVES

    changes = []
    for _ in range(DRAWS):
        order = rng.permutation(len(truth))
        fit, rest = order[:size], order[size:]
        objective = OBJECTIVES["ordinal_log_loss"](logits.shape[1])
        before = expected_calibration_error(objective.probabilities(logits[rest]), truth[rest])
        objective.fit_temperature(logits[fit], truth[fit])
        after = expected_calibration_error(objective.probabilities(logits[rest]), truth[rest])
        changes.append(after - before)
    return {"mean_change": float(np.mean(changes)), "worse_share": float(np.mean(np.asarray(changes) > 0))}


def main() -> None:
    rng = np.random.default_rng(0)
    result: dict[str, Any] = {"when": utc_now(), "sizes": list(SIZES), "draws": DRAWS, "data": {}}
    for data in DATA:
        truth, seeds = dev_truth(data), []
        for run in runs_of(data):
            logits = as_trained_logits(np.asarray(run["dev_probabilities"]), run["calibration"]["temperature"])
            by_size = {str(size): effect_of_size(logits, truth, size, rng) for size in SIZES}
            seeds.append({"seed": run["seed"], "temperature": run["calibration"]["temperature"], "sizes": by_size})
            print(data, run["seed"], {s: round(v["mean_change"], 4) for s, v in by_size.items()}, flush=True)
        result["data"][data] = {"dev_sentences": len(truth), "seeds": seeds}
    print("wrote", write_result("calibration_size", result))


def calibration_size_section(result: dict[str, Any]) -> list[str]:
    lines = [
        "## Calibration: how many validation sentences it needs (`python -m bench.calibration_size`)",
        "",
        f"{result['when']}: the default configuration's runs in bench/results/quality, their dev probabilities "
        "as trained recovered from the saved ones and the temperature. A temperature is fitted on n dev "
        f"sentences drawn at random ({result['draws']} draws per n and seed) and the expected calibration error "
        "measured on the rest of dev, calibrated against as trained. Mean over seeds ± their standard "
        "deviation; 'worse' is the share of draws in which calibrating raised the held-out ECE.",
        "",
        "| n fitted on | " + " | ".join(f"{d}: ECE change | {d}: worse" for d in result["data"]) + " |",
        "|---:|" + "---:|---:|" * len(result["data"]),
    ]
    for size in result["sizes"]:
        cells = []
        for found in result["data"].values():
            changes = [seed["sizes"][str(size)]["mean_change"] for seed in found["seeds"]]
            worse = [seed["sizes"][str(size)]["worse_share"] for seed in found["seeds"]]
            spread = statistics.stdev(changes) if len(changes) > 1 else 0.0
            cells += [f"{statistics.mean(changes):+.4f} ± {spread:.4f}", f"{statistics.mean(worse):.0%}"]
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    return [*lines, ""]


if __name__ == "__main__":
    main()
