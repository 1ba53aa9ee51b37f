"""Faithfulness and speed of `Scorer.explain` (occlusion): a deletion curve over dev sentences.

    .venv/bin/python -m bench.explain --model DIR [--data ../shared/data/sst5/dev.csv] [--sentences 200]
        [--name explain]

For each sentence of at least 4 words, the k words with the largest weights (by size) are removed, and
separately k words drawn at random (3 draws); the table gives how far the expected score moves in each case
(mean |change| in score units) for k = 1, 2, 3. Faithful weights move it more than random words. Writes
bench/results/NAME.json (rendered by `python -m bench.report`).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from typing import Any

import numpy as np

from .common import machine, sst5_or_examples, utc_now, write_result

MAX_K = 3
RANDOM_DRAWS = 3


def deletion_curve(scorer: Any, sentences: list[str], seed: int) -> dict[str, Any]:
    from sentscore.scoring.explain import without, words

    started = time.perf_counter()
    explanations = scorer.explain(sentences)
    explain_seconds = time.perf_counter() - started
    rng = random.Random(seed)
    texts, kinds = [], []  # every deleted variant, and which (sentence, k, kind) it belongs to
    for index, (sentence, weights) in enumerate(zip(sentences, explanations, strict=True)):
        spans = words(sentence)
        by_size = sorted(range(len(spans)), key=lambda i: -abs(weights[i].weight))
        for k in range(1, MAX_K + 1):
            texts.append(without(sentence, spans, set(by_size[:k])))
            kinds.append((index, k, "top"))
            for _ in range(RANDOM_DRAWS):
                texts.append(without(sentence, spans, set(rng.sample(range(len(spans)), k))))
                kinds.append((index, k, "random"))
    full = np.array([p.expected_score for p in scorer.predict(sentences)])
    deleted = np.array([p.expected_score for p in scorer.predict(texts)])
    moved: dict[tuple[int, str], list[float]] = {}
    for (index, k, kind), score in zip(kinds, deleted, strict=True):
        moved.setdefault((k, kind), []).append(abs(full[index] - score))
    curve = [
        {
            "k": k,
            "top_mean_abs_change": float(np.mean(moved[(k, "top")])),
            "random_mean_abs_change": float(np.mean(moved[(k, "random")])),
        }
        for k in range(1, MAX_K + 1)
    ]
    return {
        "sentences": len(sentences),
        "mean_words": float(np.mean([len(words(s)) for s in sentences])),
        "explain_seconds": explain_seconds,
        "explained_per_s": len(sentences) / explain_seconds,
        "curve": curve,
    }


def main() -> None:
    import pandas as pd

    from sentscore import Scorer
    from sentscore.scoring.explain import words

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default=str(sst5_or_examples("dev")))
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="explain", help="Result file: bench/results/NAME.json.")
    args = parser.parse_args()
    frame = pd.read_csv(args.data, dtype=str, keep_default_na=False)
    pool = [s for s in frame["sentence"] if len(words(s)) >= 4]
    sentences = random.Random(args.seed).sample(pool, min(args.sentences, len(pool)))
    scorer = Scorer.load(args.model)
    result = deletion_curve(scorer, sentences, args.seed)
    load = os.getloadavg()[0]
    conditions = f"load average {load:.1f} on {os.cpu_count()} cores at the start"
    record = {"machine": machine(), "when": utc_now(), "model": args.model, "data": args.data, **result}
    record["conditions"] = conditions
    write_result(args.name, record)
    print(record["curve"], f"{record['explained_per_s']:.1f} sentences explained/s")


if __name__ == "__main__":
    main()
