"""How well `sentscore audit` finds wrong scores (issue 42): 10% of a training file's rows moved to another level
(half to a neighbour, half to any other level at random), then the rows ranked by

- (a) cleanlab's own text recipe: frozen sentence embeddings of the bundled model, logistic regression,
  5-fold cross-validated probabilities, ``find_label_issues``;
- (b) the loss of one model trained with the defaults on every row (Chong et al. 2022);
- (c) ``sentscore.audit`` with the defaults (5-fold cross-validation of the recipe).

Reported against the injected rows: the area under the precision-recall curve of each ranking over all moved
rows, over the distant moves (two levels or more) and over the neighbours alone (the other moved rows left
out), and of the flagged rows, how many there are and how many of the distant moves and of all moves they hold.

    .venv/bin/python -m bench.audit run --data sst5 --seed 42     # one draw (about k + 1 trainings)
    .venv/bin/python -m bench.audit show                          # the table of the stored runs
    .venv/bin/python -m bench.audit compare --data sst5 --seed 42 # other rankings of the audit's probabilities
    .venv/bin/python -m bench.audit clean --data sst5 --seed 42   # does cleaning pay (after run: 2 trainings)
    .venv/bin/python -m bench.audit real --data sst5              # the most suspect rows of the unmodified file
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import audit_report
from .common import RESULTS, SEMEVAL, SST5, cpu_name

DATA = {"sst5": SST5 / "train.csv", "semeval_4c": SEMEVAL / "train.csv"}
DEV = {"sst5": SST5 / "dev.csv", "semeval_4c": SEMEVAL / "dev.csv"}
WORK = RESULTS / "audit_work"
RESULT = RESULTS / "audit.json"

RATE = 0.10


def draw_dir(data: str, seed: int, rate: float = RATE) -> Path:
    """The work folder of one draw: its noisy file, its audit, its models."""
    return WORK / (f"{data}-{seed}" if rate == RATE else f"{data}-{seed}-rate{round(100 * rate)}")


def key(r: dict[str, Any]) -> tuple[str, int, float]:
    return r["data"], r["seed"], r.get("rate", RATE)


def inject(frame: pd.DataFrame, seed: int, rate: float = RATE) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """``frame`` with ``rate`` of its rows moved: half to a neighbouring level, half to any other level at
    random; the true levels and each row's distance moved (0: untouched)."""
    rng = np.random.default_rng(seed)
    levels = np.sort(frame["score"].unique())
    truth = frame["score"].to_numpy()
    moved = rng.choice(len(frame), int(round(rate * len(frame))), replace=False)
    given = truth.copy()
    for k, row in enumerate(moved):
        if k % 2 == 0:  # a neighbour
            options = [v for v in (truth[row] - 1, truth[row] + 1) if v in levels]
        else:  # any other level
            options = [v for v in levels if v != truth[row]]
        given[row] = rng.choice(options)
    noisy = frame.copy()
    noisy["score"] = given
    return noisy, truth, np.abs(given - truth)


def ranking_figures(suspicion: np.ndarray, flagged: np.ndarray, distance: np.ndarray) -> dict[str, float]:
    """Area under the precision-recall curve of ``suspicion`` (higher: more suspect) against the moved rows, and
    what the flagged rows hold."""
    from sklearn.metrics import average_precision_score

    moved, distant, neighbour = distance > 0, distance >= 2, distance == 1
    clean = ~moved
    return {
        "auprc_all": float(average_precision_score(moved, suspicion)),
        "auprc_distant": float(average_precision_score(distant[distant | clean], suspicion[distant | clean])),
        "auprc_neighbour": float(average_precision_score(neighbour[neighbour | clean], suspicion[neighbour | clean])),
        "flagged": int(flagged.sum()),
        "flagged_share": float(flagged.mean()),
        "precision": float(moved[flagged].mean()) if flagged.any() else 0.0,
        "recall_all": float(flagged[moved].mean()),
        "recall_distant": float(flagged[distant].mean()),
        "recall_neighbour": float(flagged[neighbour].mean()),
    }


def cleanlab_recipe(texts: list[str], given: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a) cleanlab's text recipe: embeddings of the bundled model, logistic regression, 5-fold probabilities."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from sentscore.model.base import bundled_model_path

    embeddings = SentenceTransformer(str(bundled_model_path()), device="cpu").encode(texts, batch_size=64)
    labels = given - given.min()
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    probs = cross_val_predict(LogisticRegression(max_iter=1000), embeddings, labels, cv=folds, method="predict_proba")
    flagged = find_label_issues(labels, probs, filter_by="prune_by_noise_rate", n_jobs=1)
    return 1 - get_label_quality_scores(labels, probs), np.asarray(flagged, dtype=bool)


def trained_loss(noisy_csv: Path, texts: list[str], given: np.ndarray, seed: int, folder: Path) -> np.ndarray:
    """(b) the loss of one model trained with the defaults on every row: -log p(given score)."""
    from sentscore import Scorer, TrainConfig, train

    config = TrainConfig(train_file=str(noisy_csv), output_dir=str(folder), seed=seed, onnx_export="none")
    config.overwrite = True  # a rerun of the same draw
    train(config, show_progress=False)
    probs = Scorer.load(folder, backend="torch").predict_proba(texts)
    return -np.log(np.clip(probs[np.arange(len(given)), given - given.min()], 1e-12, 1))


def audit_draw(work: Path, seed: int, folds: int = 5, audit_dir: str = "audit", cleaned: Path | None = None) -> Any:
    """``sentscore.audit`` with the defaults of the draw's noisy file in ``work`` (finished folds read back), and its
    table in the file's row order."""
    from sentscore import TrainConfig, audit

    config = TrainConfig(train_file=str(work / "noisy.csv"), output_dir=str(work / "unused"), seed=seed)
    found = audit(config, folds=folds, audit_dir=work / audit_dir, resume=True, cleaned=cleaned, show_progress=False)
    return found, found.table.set_index("row").sort_index()


def run(data: str, seed: int, folds: int = 5, limit: int | None = None, rate: float = RATE) -> dict[str, Any]:
    frame = pd.read_csv(DATA[data])
    if limit:  # a quick check of the bench itself, not a result
        frame = frame.groupby("score", group_keys=False).head(limit // 5).reset_index(drop=True)
    noisy, truth, distance = inject(frame, seed, rate)
    work = WORK / f"{data}-{seed}-limit{limit}" if limit else draw_dir(data, seed, rate)
    work.mkdir(parents=True, exist_ok=True)
    noisy_csv = work / "noisy.csv"
    noisy.to_csv(noisy_csv, index=False)
    texts, given = noisy["sentence"].tolist(), noisy["score"].to_numpy()
    result: dict[str, Any] = {"data": data, "seed": seed, "rows": len(frame), "moved": int((distance > 0).sum())}
    if rate != RATE:
        result["rate"] = rate
    result["distant"], result["cpu"] = int((distance >= 2).sum()), f"{cpu_name()}, {os.cpu_count()} cores"
    result["when"] = time.strftime("%Y-%m-%d")

    started = time.perf_counter()
    suspicion, flagged = cleanlab_recipe(texts, given, seed)
    seconds = time.perf_counter() - started
    result["cleanlab_recipe"] = {**ranking_figures(suspicion, flagged, distance), "seconds": seconds}

    started = time.perf_counter()
    found, table = audit_draw(work, seed, folds)
    quality, flags = table["label_quality"].to_numpy(), table["flagged"].to_numpy(dtype=bool)
    seconds = time.perf_counter() - started
    result["sentscore_audit"] = {**ranking_figures(1 - quality, flags, distance), "seconds": seconds}
    result["sentscore_audit"]["flagged_by"] = found.summary["method"]["flagged"]
    probs = table[[f"prob_{v}" for v in sorted(frame["score"].unique())]].to_numpy()
    np.save(work / "audit_probs.npy", probs)  # for comparing rankings of the same probabilities

    started = time.perf_counter()
    loss = trained_loss(noisy_csv, texts, given, seed, work / "one_model")
    top = np.zeros(len(loss), dtype=bool)
    top[np.argsort(-loss)[: int(flags.sum())]] = True  # as many rows as the audit flags
    result["one_model_loss"] = {**ranking_figures(loss, top, distance), "seconds": time.perf_counter() - started}
    return result


def ordinal_suspicion(probs: np.ndarray, given: np.ndarray) -> np.ndarray:
    """How far, in levels, the held-out model expects the score to be from the given one: E|k - given|."""
    levels = np.arange(probs.shape[1])
    return (probs * np.abs(levels[None, :] - given[:, None])).sum(axis=1)


def compare(data: str, seed: int, rate: float = RATE) -> dict[str, dict[str, float]]:
    """Rankings of the same held-out probabilities (those the audit stored): cleanlab's three label-quality
    scores and the ordinal expected distance; flagged rows as the audit flags them."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    frame = pd.read_csv(DATA[data])
    noisy, _, distance = inject(frame, seed, rate)
    probs = np.load(draw_dir(data, seed, rate) / "audit_probs.npy").astype(np.float64)
    probs /= probs.sum(axis=1, keepdims=True)
    given = noisy["score"].to_numpy() - noisy["score"].min()
    flagged = np.asarray(find_label_issues(given, probs, filter_by="prune_by_noise_rate", n_jobs=1), dtype=bool)
    rankings = {
        method: 1 - get_label_quality_scores(given, probs, method=method)
        for method in ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
    }
    rankings["ordinal_expected_distance"] = ordinal_suspicion(probs, given)
    figures = {method: ranking_figures(suspicion, flagged, distance) for method, suspicion in rankings.items()}
    quality = rankings["self_confidence"]
    rules = {
        "cleanlab find_label_issues (prune_by_noise_rate)": flagged,
        "expected distance >= 1 level (the default)": rankings["ordinal_expected_distance"] >= 1.0,
    }
    flag_rules = {rule: ranking_figures(quality, chosen, distance) for rule, chosen in rules.items()}
    return {"rankings": figures, "flag_rules": flag_rules, "bounds": bounds(quality, distance)}


def bounds(suspicion: np.ndarray, distance: np.ndarray) -> dict[str, float]:
    """What the AUPRC over all moved rows could reach if the distant moves (or the neighbours) were ranked
    perfectly first and the rest as ``suspicion`` ranks them: which kind of error the figure turns on."""
    from sklearn.metrics import average_precision_score

    moved, top = distance > 0, suspicion.max() + 1
    return {
        "distant_first": float(average_precision_score(moved, suspicion + top * (distance >= 2))),
        "neighbours_first": float(average_precision_score(moved, suspicion + top * (distance == 1))),
    }


def dev_figures(model_dir: Path, data: str) -> dict[str, float]:
    from sentscore import evaluate

    metrics = evaluate(model_dir, DEV[data], backend="torch")["metrics"]
    return {key: float(metrics[key]) for key in ("accuracy", "macro_f1", "qwk", "mae")}


def cleaning(data: str, seed: int, rate: float = RATE) -> dict[str, Any]:
    """Does cleaning pay: the defaults trained on the noisy file (the model of (b)), on the file ``--cleaned``
    wrote (the noisy file without the audit's flagged rows), on the noisy file without only the rows expected two
    levels or more away (a stricter rule, measured beside it) and on the clean original, each scored on dev."""
    from sentscore import TrainConfig, train

    work = draw_dir(data, seed, rate)
    found, _ = audit_draw(work, seed, cleaned=work / "cleaned.csv")
    noisy = pd.read_csv(work / "noisy.csv")
    distant = found.table.loc[found.table["expected_distance"] >= 2, "row"].to_numpy() - 2
    noisy.drop(index=distant).to_csv(work / "cleaned_distant.csv", index=False)
    trained = {"noisy": work / "one_model"}
    files = {"cleaned": work / "cleaned.csv", "clean": DATA[data]}
    if rate == RATE:
        files["cleaned_distant"] = work / "cleaned_distant.csv"
    for name, train_file in files.items():
        # the clean original's model is the same for every rate: trained once, in the 10% draw's folder
        trained[name] = (draw_dir(data, seed) if name == "clean" else work) / f"{name}_model"
        if (trained[name] / "metrics.json").is_file():  # trained by an earlier call on the same draw
            continue
        config = TrainConfig(train_file=str(train_file), output_dir=str(trained[name]), seed=seed, onnx_export="none")
        config.overwrite = True
        train(config, show_progress=False)
    figures: dict[str, Any] = {name: dev_figures(folder, data) for name, folder in trained.items()}
    figures["rows_left_out"] = int(found.summary["flagged"])
    figures["distant_left_out"] = len(distant)
    return figures


def other_k(data: str, seed: int, folds: int) -> dict[str, Any]:
    """The audit of a stored draw with another number of folds: its ranking and flags against the injected rows,
    and its seconds (the default k is chosen from these)."""
    _, _, distance = inject(pd.read_csv(DATA[data]), seed)
    started = time.perf_counter()
    _, table = audit_draw(draw_dir(data, seed), seed, folds, f"audit-k{folds}")
    quality, flags = table["label_quality"].to_numpy(), table["flagged"].to_numpy(dtype=bool)
    return {**ranking_figures(1 - quality, flags, distance), "seconds": time.perf_counter() - started}


def real(data: str, seed: int = 42, top: int = 20) -> dict[str, Any]:
    """The most suspect rows of the unmodified training file, audited with the defaults, for a reader to judge."""
    from sentscore import TrainConfig, audit

    work = WORK / f"{data}-real-{seed}"
    config = TrainConfig(train_file=str(DATA[data]), output_dir=str(work / "unused"), seed=seed)
    started = time.perf_counter()
    found = audit(config, audit_dir=work / "audit", resume=True, show_progress=False)
    head = found.table.head(top)
    keep = ["row", "sentence", "given_score", "suggested_score", "label_quality", "expected_distance"]
    return {
        "data": data,
        "seed": seed,
        "rows": len(found.table),
        "seconds": time.perf_counter() - started,
        "flagged": int(found.table["flagged"].sum()),
        "top": head[keep].to_dict(orient="records"),
    }


def store(result: dict[str, Any]) -> None:
    runs = json.loads(RESULT.read_text()) if RESULT.is_file() else []
    runs = [r for r in runs if key(r) != key(result)] + [result]
    RESULT.write_text(json.dumps(runs, indent=2) + "\n")


def add_to_run(data: str, seed: int, found: dict[str, Any], rate: float = RATE) -> None:
    """``found`` kept beside the stored run of the same draw."""
    for r in json.loads(RESULT.read_text()) if RESULT.is_file() else []:
        if key(r) == (data, seed, rate):
            store({**r, **found})
    print(json.dumps(found, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audit")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("show")
    verbs = {
        "run": "Inject errors into a draw and rank them three ways (about k + 1 trainings).",
        "compare": "Rankings of a stored run's held-out probabilities.",
        "clean": "Train on the noisy, the cleaned and the clean file of a stored run.",
        "folds": "The audit of a stored run with another number of folds.",
        "real": "The most suspect rows of the unmodified training file.",
    }
    verb = {name: commands.add_parser(name, help=text) for name, text in verbs.items()}
    for one in verb.values():
        one.add_argument("--data", choices=list(DATA), required=True)
        one.add_argument("--seed", type=int, default=42)
    verb["run"].add_argument("--limit", type=int, help="Only this many rows: a check of the bench, not stored.")
    verb["folds"].add_argument("--folds", type=int, required=True)
    for name in ("run", "compare", "clean"):
        verb[name].add_argument("--rate", type=float, default=RATE, help="The share of rows moved (default 0.1).")
    args = parser.parse_args()
    if args.command == "real":
        found = real(args.data, args.seed)
        audit_report.REAL.write_text(json.dumps(found, indent=2, ensure_ascii=False) + "\n")
        print(json.dumps(found, indent=2, ensure_ascii=False))
    elif args.command == "folds":
        previous = next(r for r in json.loads(RESULT.read_text()) if key(r) == (args.data, args.seed, RATE))
        figures = {**previous.get("other_k", {}), str(args.folds): other_k(args.data, args.seed, args.folds)}
        add_to_run(args.data, args.seed, {"other_k": figures})
    elif args.command == "clean":
        add_to_run(args.data, args.seed, {"cleaning": cleaning(args.data, args.seed, args.rate)}, args.rate)
    elif args.command == "compare":
        add_to_run(args.data, args.seed, compare(args.data, args.seed, args.rate), args.rate)
    elif args.command == "run" and args.limit:
        print(json.dumps(run(args.data, args.seed, limit=args.limit), indent=2))
    else:
        if args.command == "run":
            store(run(args.data, args.seed, rate=args.rate))
        audit_report.show(json.loads(RESULT.read_text()) if RESULT.is_file() else [])


if __name__ == "__main__":
    main()
