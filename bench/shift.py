"""Quality under a shifted score distribution: every bench.quality run's dev predictions scored again as if the dev
set's levels were distributed otherwise (held-out data often is: next year's reviews, another product line).

    .venv/bin/python -m bench.shift            # the table, from the stored runs (no training)

Each sentence is weighted by how much likelier its true level is under the target distribution than in dev as
drawn (importance weights: q(level) / p(level)), so the same predictions give the metrics a dev set drawn with
q would have given in expectation. Targets: dev as drawn; uniform over the levels; middle-heavy (weights 1, 2,
3, 2, 1 for five levels); and dev's own distribution shifted one level down and one level up (the lowest or the
highest level takes the mass pushed onto it). Per configuration: the mean ± std over seeds of each target, of the
worst target (per seed) and of the mean over the shifted targets.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import numpy as np

from .quality import DATASETS, load_results
from .quality_report import DATA_NAMES, grouped, spread

METRICS = ("accuracy", "macro_f1", "qwk", "mae")
#: Whether a higher value of the metric is better (the worst target is the lowest, or for MAE the highest).
HIGHER_IS_BETTER = {"accuracy": True, "macro_f1": True, "qwk": True, "mae": False}


def uniform(p: np.ndarray) -> np.ndarray:
    return np.full(len(p), 1 / len(p))


def middle_heavy(p: np.ndarray) -> np.ndarray:
    levels = len(p)
    weights = np.array([min(k + 1, levels - k) for k in range(levels)], dtype=float)
    return weights / weights.sum()


def one_level_down(p: np.ndarray) -> np.ndarray:
    q = np.zeros_like(p)
    q[:-1] = p[1:]
    q[0] += p[0]
    return q


def one_level_up(p: np.ndarray) -> np.ndarray:
    q = np.zeros_like(p)
    q[1:] = p[:-1]
    q[-1] += p[-1]
    return q


#: The target distributions, as functions of dev's own level distribution.
TARGETS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "as drawn": lambda p: p,
    "uniform": uniform,
    "middle-heavy": middle_heavy,
    "one level down": one_level_down,
    "one level up": one_level_up,
}
SHIFTED = tuple(name for name in TARGETS if name != "as drawn")
#: The configurations also shown with their probabilities adapted to each target's priors by EM.
EM_SHOWN = ("defaults, bf16", "reference recipe")


def importance_weights(truth: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Each sentence's weight q(level) / p(level), so that the weighted dev set has the level distribution
    ``target``."""
    p = np.bincount(truth, minlength=len(target)) / len(truth)
    ratio = np.divide(target, p, out=np.zeros_like(target), where=p > 0)
    return ratio[truth]


def weighted_metrics(truth: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """Accuracy, macro-F1 (over the levels that keep weight), quadratic weighted kappa and MAE in levels, each
    sentence counted by its weight."""
    from sklearn.metrics import cohen_kappa_score, f1_score

    kept = weights > 0
    truth, predicted, weights = truth[kept], predicted[kept], weights[kept]
    total = weights.sum()
    return {
        "accuracy": float((weights * (truth == predicted)).sum() / total),
        "macro_f1": float(
            f1_score(
                truth, predicted, labels=sorted(set(truth)), average="macro", sample_weight=weights, zero_division=0
            )
        ),
        "qwk": float(cohen_kappa_score(truth, predicted, weights="quadratic", sample_weight=weights)),
        "mae": float((weights * np.abs(truth - predicted)).sum() / total),
    }


def em_adapted(probs: np.ndarray, weights: np.ndarray, train_prior: np.ndarray, rounds: int = 100) -> np.ndarray:
    """The probabilities re-weighted to the level distribution that expectation-maximisation finds in the
    (weighted) sentences themselves, no labels used (Saerens, Latinne and Decaestecker, 2002): what a scorer
    that re-estimates the priors of the text it is given would predict."""
    prior = train_prior.copy()
    for _ in range(rounds):
        adapted = probs * (prior / train_prior)
        adapted /= adapted.sum(axis=1, keepdims=True)
        prior = (weights[:, None] * adapted).sum(axis=0) / weights.sum()
    return adapted


def train_prior(data: str) -> np.ndarray:
    import pandas as pd

    folder, _ = DATASETS[data]
    counts = np.bincount(pd.read_csv(folder / "train.csv")["score"].to_numpy() - 1, minlength=5)
    return counts / counts.sum()


def dev_truth(data: str) -> np.ndarray:
    import pandas as pd

    folder, _ = DATASETS[data]
    return pd.read_csv(folder / "dev.csv")["score"].to_numpy() - 1  # scores 1..5 -> level ids


def run_under_targets(
    run: dict[str, Any], truth: np.ndarray, prior: np.ndarray | None = None
) -> dict[str, dict[str, float]]:
    """One run's metrics under every target, with its worst target and its mean over the shifted ones; with
    ``prior`` (the training levels' distribution), from probabilities adapted to each target by EM."""
    return under_targets(np.asarray(run["dev_probabilities"], dtype=float), truth, prior)


def under_targets(probs: np.ndarray, truth: np.ndarray, prior: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """The metrics of ``probs``' argmax under every target, the worst target's and the mean over the shifted ones
    (with ``prior``, the probabilities adapted to each target by EM first)."""
    p = np.bincount(truth, minlength=probs.shape[1]) / len(truth)
    found = {}
    for name, make in TARGETS.items():
        weights = importance_weights(truth, make(p))
        predicted = (probs if prior is None else em_adapted(probs, weights, prior)).argmax(axis=1)
        found[name] = weighted_metrics(truth, predicted, weights)
    worst, mean = {}, {}
    for metric in METRICS:
        values = [found[name][metric] for name in TARGETS]
        worst[metric] = min(values) if HIGHER_IS_BETTER[metric] else max(values)
        mean[metric] = statistics.fmean(found[name][metric] for name in SHIFTED)
    return {**found, "worst": worst, "mean shifted": mean}


def shift_table(results: list[dict[str, Any]], min_seeds: int = 2) -> dict[str, dict[str, dict[str, list[dict]]]]:
    """data -> configuration -> target -> each seed's metrics, for configurations with ``min_seeds`` seeds or more
    that stored their dev predictions."""
    table: dict[str, dict[str, dict[str, list[dict]]]] = {}
    for data, configs in grouped(results).items():
        if data not in DATASETS:
            continue
        truth, prior = dev_truth(data), train_prior(data)
        for config, runs in configs.items():
            stored = [run for run in runs if run.get("dev_probabilities")]
            if len(stored) < min_seeds:
                continue
            for name, adapt in ((config, None), (f"{config}, EM priors", prior)):
                if adapt is not None and config not in EM_SHOWN:
                    continue
                scored = [run_under_targets(run, truth, adapt) for run in stored]
                table.setdefault(data, {})[name] = {target: [s[target] for s in scored] for target in scored[0]}
    return table


def shift_section(results: list[dict[str, Any]]) -> list[str]:
    """The BENCHMARKS.md section: per data set, each configuration's worst and mean shifted metrics, then each
    target for the defaults and the recipe."""
    rows = [
        "### Under a shifted score distribution (`python -m bench.shift`)",
        "",
        "Each run's stored dev predictions, re-weighted so that the dev levels follow another distribution: "
        "uniform, middle-heavy (1-2-3-2-1), or dev's own shifted one level down or up (importance weights, no "
        "retraining). *worst*: the worst of the five targets (dev as drawn included) per seed; *mean shifted*: the "
        "mean over the four shifted ones. Mean ± std over seeds; configurations with two seeds or more. *EM priors*: "
        "the same probabilities adapted to each target's level distribution by expectation-maximisation on the "
        "unlabelled sentences (Saerens et al. 2002), a scoring-time option this measures before it is built: it "
        "helped in one direction of shift and hurt in the others, dev as drawn included, so it was not built.",
        "",
    ]
    for data, configs in shift_table(results).items():
        rows += [f"#### {DATA_NAMES.get(data, data)}", ""]
        header = " | ".join(f"{part} {metric}" for part in ("worst", "mean shifted") for metric in METRICS)
        rows += [f"| configuration | seeds | {header} |", "|---|---:|" + "---:|" * (2 * len(METRICS))]
        for config, targets in sorted(configs.items()):
            cells = [spread([seed[m] for seed in targets[part]]) for part in ("worst", "mean shifted") for m in METRICS]
            rows.append(f"| {config} | {len(targets['worst'])} | " + " | ".join(cells) + " |")
        rows.append("")
    return rows + against_recipe_section(results)


#: The configurations compared with the recipe target by target, and the recipe's name in the results.
AGAINST_RECIPE = ("defaults, bf16", "defaults, class weights, bf16")
RECIPE = "reference recipe"


def against_recipe(configs: dict[str, dict[str, list[dict]]], config: str) -> dict[str, dict[str, tuple]]:
    """Target -> metric -> (config's mean minus the recipe's, whether it is worse by more than twice the
    difference's standard error over seeds)."""
    found: dict[str, dict[str, tuple]] = {}
    for target in TARGETS:
        ours, theirs = configs[config][target], configs[RECIPE][target]
        found[target] = {}
        for metric in METRICS:
            a, b = [s[metric] for s in ours], [s[metric] for s in theirs]
            difference = statistics.fmean(a) - statistics.fmean(b)
            error = (statistics.variance(a) / len(a) + statistics.variance(b) / len(b)) ** 0.5
            worse = -difference if HIGHER_IS_BETTER[metric] else difference
            found[target][metric] = (difference, worse > 2 * error)
    return found


def against_recipe_section(results: list[dict[str, Any]]) -> list[str]:
    """Per data set and target: each compared configuration's difference from the recipe."""
    rows = [
        "#### Target by target, against the recipe",
        "",
        "Mean over seeds minus the recipe's (MAE: lower is better, so a positive difference is worse). **Bold**: "
        "worse than the recipe by more than twice the difference's standard error over seeds.",
        "",
    ]
    for data, configs in shift_table(results).items():
        compared = [config for config in AGAINST_RECIPE if config in configs and RECIPE in configs]
        if not compared:
            continue
        rows += [
            f"| {DATA_NAMES.get(data, data)} | target | " + " | ".join(f"Δ {metric}" for metric in METRICS) + " |",
            "|---|---|" + "---:|" * len(METRICS),
        ]
        for config in compared:
            for target, metrics in against_recipe(configs, config).items():
                cells = [f"**{d:+.3f}**" if worse else f"{d:+.3f}" for d, worse in metrics.values()]
                rows.append(f"| {config} | {target} | " + " | ".join(cells) + " |")
        rows.append("")
    return rows


def main() -> None:
    for data, configs in shift_table(load_results()).items():
        print(f"\n== {data}")
        for config, targets in sorted(configs.items()):
            print(f"  {config} ({len(targets['worst'])} seeds)")
            for name, seeds in targets.items():
                cells = "  ".join(f"{m} {spread([s[m] for s in seeds])}" for m in METRICS)
                print(f"    {name:<15} {cells}")


if __name__ == "__main__":
    main()
