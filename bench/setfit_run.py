"""SetFit itself, the peer for few labels, run in its own bench-only environment (``.venv-setfit``, made by
``bash bench/setfit_env.sh``), so that sentscore never depends on it: trains on a training CSV with the SetFit
paper's settings (batch 16, 20 pair iterations, 1 epoch of the body, then the logistic head), scores a dev CSV
and writes the dev probabilities and the training seconds as JSON. bench.quality runs it (configuration
"SetFit 1.2") and computes the metrics with sentscore's own functions, as for every other configuration.

    .venv-setfit/bin/python bench/setfit_run.py --train T.csv --dev D.csv --body MODEL --seed 42 --out R.json

This file imports neither sentscore nor anything of bench/: it runs under the other environment's Python.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", required=True)
    parser.add_argument("--dev", required=True)
    parser.add_argument("--body", required=True, help="A sentence-transformers model folder.")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import pandas as pd
    import setfit
    import torch
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    torch.set_num_threads(args.threads)
    train = pd.read_csv(args.train)
    dev = pd.read_csv(args.dev)
    levels = sorted(set(train["score"]) | set(dev["score"]))
    data = Dataset.from_dict({"text": train["sentence"].astype(str).tolist(), "label": train["score"].tolist()})
    started = time.perf_counter()
    model = SetFitModel.from_pretrained(args.body, labels=None)
    with tempfile.TemporaryDirectory(prefix="setfit-") as work:  # its checkpoints, not in the working directory
        settings = TrainingArguments(output_dir=work, batch_size=16, num_iterations=20, num_epochs=1, seed=args.seed)
        Trainer(model=model, args=settings, train_dataset=data).train()
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    probs = model.predict_proba(dev["sentence"].astype(str).tolist(), as_numpy=True)
    scoring_seconds = time.perf_counter() - started
    classes = [int(c) for c in model.model_head.classes_]  # the head's columns, as levels
    full = [[0.0] * len(levels) for _ in range(len(probs))]  # a level the draw lacks gets probability 0
    for row, values in zip(full, probs, strict=True):
        for level, value in zip(classes, values, strict=True):
            row[levels.index(level)] = float(value)
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(
            {
                "levels": levels,
                "dev_probabilities": full,
                "train_seconds": train_seconds,
                "dev_scoring_seconds": scoring_seconds,
                "setfit_version": setfit.__version__,
                "threads": args.threads,
            },
            out,
        )


if __name__ == "__main__":
    main()
