"""Does torch.compile pay for training on this CPU? Eager against compiled, same model, same batches.

    .venv/bin/python -m bench.compile [--steps 40]

Runs training steps (forward, backward, AdamW) of the bundled model on batches of 16 real training
sentences with the lengths length-grouped batching produces, first eager, then under
`torch.compile(dynamic=True)` (dynamic shapes, since every batch has its own length). Reports the
compile warm-up (the first three batches) and the steady-state tokens/s of each. Writes
bench/results/compile.json (rendered by `python -m bench.report`).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

from .run import RESULTS, ROOT, SST5

BATCH_SIZE = 16
WARM_UP_BATCHES = 3


def length_grouped_batches(texts: list[str], tokenizer: Any, count: int) -> list[Any]:
    """``count`` batches of similar-length sentences, in random order, as the training sampler makes them."""
    encoded = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    groups = [order[i : i + BATCH_SIZE] for i in range(0, len(order) - BATCH_SIZE + 1, BATCH_SIZE)]
    picked = random.Random(0).sample(groups, count)
    return [tokenizer.pad({"input_ids": [encoded[i] for i in group]}, return_tensors="pt") for group in picked]


def training_batches(steps: int) -> tuple[Path, list[Any]]:
    """The training file used (SST-5 when present) and ``steps`` warm-up-plus-timed batches from it."""
    import pandas as pd
    from transformers import AutoTokenizer

    from sentscore.models import bundled_model_path

    data = SST5 / "train.csv" if (SST5 / "train.csv").is_file() else ROOT / "examples" / "data" / "dataset.csv"
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    texts = pd.read_csv(data)["sentence"].astype(str).tolist()
    return data, length_grouped_batches(texts, tokenizer, steps + WARM_UP_BATCHES)


def bundled_model_for_training() -> Any:
    """The bundled model as ``sentscore train`` sets it up by default (5-level head, dropout settings, word
    embeddings and the lowest encoder layers frozen), seeded."""
    import torch

    from sentscore import TrainConfig
    from sentscore.data import ScoreScale
    from sentscore.models import load_for_training
    from sentscore.training import freeze_as_configured

    torch.manual_seed(0)
    defaults = TrainConfig()
    scale = ScoreScale(tuple(str(level) for level in range(1, 6)))
    model = load_for_training(defaults.model_name, scale, defaults.dropout, defaults.attention_dropout)[1]
    freeze_as_configured(model, defaults)
    model.train()
    return model


def training_step(model: Any, fused: bool = False) -> Any:
    """A function running one training step (forward, backward, AdamW) on a batch."""
    import torch

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=fused)

    def step(batch: Any) -> None:
        labels = torch.zeros(batch["input_ids"].shape[0], dtype=torch.long)
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    return step


def run(model: Any, batches: list[Any]) -> dict[str, float]:
    step = training_step(model)
    started = time.perf_counter()
    for batch in batches[:WARM_UP_BATCHES]:
        step(batch)
    warm_up = time.perf_counter() - started
    tokens = sum(int(b["attention_mask"].sum()) for b in batches[WARM_UP_BATCHES:])
    started = time.perf_counter()
    for batch in batches[WARM_UP_BATCHES:]:
        step(batch)
    return {"warm_up_seconds": warm_up, "steady_tokens_per_s": tokens / (time.perf_counter() - started)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40, help="Timed steps after the warm-up.")
    args = parser.parse_args()
    import torch

    data, batches = training_batches(args.steps)
    results: dict[str, Any] = {"data": data.name, "batch_size": BATCH_SIZE, "torch": torch.__version__}
    for name in ("eager", "torch.compile(dynamic=True)"):
        model = bundled_model_for_training()
        if name != "eager":
            model = torch.compile(model, dynamic=True)
        results[name] = run(model, batches)
        print(f"[compile] {name}: {results[name]}", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "compile.json").write_text(json.dumps(results, indent=2))
    print(f"[compile] wrote {RESULTS / 'compile.json'}; render with: python -m bench.report")


if __name__ == "__main__":
    main()
