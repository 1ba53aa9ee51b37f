"""Which epoch to keep: the rules compared on dev, as drawn and under shifted level distributions, from the runs
of bench.quality that kept every epoch's predictions ("defaults, every epoch").

    .venv/bin/python -m bench.kept_epoch

A rule looks only at the validation split (as training does) and picks an epoch; that epoch's dev predictions
are then scored as drawn and under bench.shift's targets. Rules: the best validation accuracy (the default
``metric_for_best_model``), QWK or MAE; the lowest validation loss (the objective's, as the Trainer reports it);
the lowest ranked probability score (a proper scoring rule for ordered levels: the squared distance between the
cumulative predicted and true distributions); the lowest negative log-likelihood; and the last epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .quality import load_results, read_epochs, result_file
from .quality_report import DATA_NAMES, spread
from .shift import under_targets, weighted_metrics

RECORDED = "defaults, every epoch"


def ranked_probability_score(probs: np.ndarray, truth: np.ndarray) -> float:
    """Mean over sentences of the summed squared differences between the cumulative predicted distribution and
    the true level's step function (lower is better)."""
    cumulative = np.cumsum(probs, axis=1)
    steps = (np.arange(probs.shape[1])[None, :] >= truth[:, None]).astype(float)
    return float(((cumulative - steps) ** 2).sum(axis=1).mean())


def negative_log_likelihood(probs: np.ndarray, truth: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(truth)), truth], 1e-7, 1)).mean())


def _validation_metric(metric: str) -> Callable[[np.ndarray, np.ndarray], float]:
    def score(probs: np.ndarray, truth: np.ndarray) -> float:
        return weighted_metrics(truth, probs.argmax(axis=1), np.ones(len(truth)))[metric]

    return score


#: Rule -> (what it computes on the validation split from an epoch's probabilities and trainer metrics, whether
#: higher is better). Ties go to the earlier epoch, as the Trainer keeps the first best.
RULES: dict[str, tuple[Callable[[dict[str, Any], np.ndarray], float], bool]] = {
    "best accuracy (default)": (lambda e, y: _validation_metric("accuracy")(np.asarray(e["validation"]), y), True),
    "best QWK": (lambda e, y: _validation_metric("qwk")(np.asarray(e["validation"]), y), True),
    "lowest MAE": (lambda e, y: _validation_metric("mae")(np.asarray(e["validation"]), y), False),
    "lowest loss": (lambda e, y: e["trainer_metrics"]["eval_loss"], False),
    "lowest NLL": (lambda e, y: negative_log_likelihood(np.asarray(e["validation"]), y), False),
    "lowest RPS": (lambda e, y: ranked_probability_score(np.asarray(e["validation"]), y), False),
    "last epoch": (lambda e, y: e["epoch"], True),
}


def kept_epoch(record: dict[str, Any], rule: str) -> int:
    """The index of the epoch ``rule`` keeps."""
    compute, higher = RULES[rule]
    truth = np.asarray(record["labels"]["validation"])
    values = [compute(epoch, truth) for epoch in record["epochs"]]
    best = max(values) if higher else min(values)
    return values.index(best)


def compare(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """data -> rule -> the epochs kept (one per seed) and each seed's dev metrics."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for run in sorted(results, key=lambda run: run["seed"]):
        if run["config"] != RECORDED:
            continue
        record = read_epochs(result_file(run["data"], run["config"], run["seed"]))
        if record is None:
            continue
        truth = np.asarray(record["labels"]["dev"])
        for rule in RULES:
            index = kept_epoch(record, rule)
            entry = table.setdefault(run["data"], {}).setdefault(rule, {"epochs": [], "dev": []})
            entry["epochs"].append(record["epochs"][index]["epoch"])
            entry["dev"].append(under_targets(np.asarray(record["epochs"][index]["dev"]), truth))
    return table


def kept_epoch_section(results: list[dict[str, Any]]) -> list[str]:
    table = compare(results)
    if not table:
        return []
    rows = [
        "### Which epoch to keep (`python -m bench.kept_epoch`)",
        "",
        f"The runs of `{RECORDED}` kept every epoch's probabilities for the validation split and dev; each rule "
        "picks an epoch from the validation split alone, and that epoch's dev predictions are scored as drawn, at "
        "the worst of bench.shift's targets and averaged over the shifted ones (mean ± std over seeds; "
        "probabilities before calibration, which does not move the argmax).",
        "",
    ]
    columns = [(part, m) for part in ("as drawn", "worst", "mean shifted") for m in ("accuracy", "qwk", "mae")]
    for data, rules in table.items():
        rows += [f"#### {DATA_NAMES.get(data, data)}", ""]
        rows.append("| rule | epochs kept | " + " | ".join(f"{part} {m}" for part, m in columns) + " |")
        rows.append("|---|---|" + "---:|" * len(columns))
        for rule, entry in rules.items():
            cells = [spread([seed[part][m] for seed in entry["dev"]]) for part, m in columns]
            epochs = ", ".join(f"{epoch:g}" for epoch in entry["epochs"])
            rows.append(f"| {rule} | {epochs} | " + " | ".join(cells) + " |")
        rows.append("")
    return rows


def main() -> None:
    print("\n".join(kept_epoch_section(load_results())) or f"no runs of '{RECORDED}' yet")


if __name__ == "__main__":
    main()
