"""Does torch.compile pay for training on this CPU? Eager against compiled, same model, same batches.

    .venv/bin/python -m bench.compile [--steps 40]

Runs training steps (forward, backward, AdamW; in mixed precision bf16 where `sentscore train` would use it)
of the bundled model on batches of 16 real training sentences with the lengths length-grouped batching
produces: eager, then the whole model under `torch.compile(dynamic=True)` (dynamic shapes, since every batch
has its own length), then each encoder layer compiled on its own ("regional" compilation, which PyTorch
recommends to cut the warm-up: the layers share one compiled graph). After each mode's warm-up (the first
three batches: the compile time), the modes take turns on the same batches in 5 rounds, since the machine's
speed drifts; reports the median tokens/s of each and the median of its per-round ratio to eager. Writes
bench/results/compile.json (rendered by `python -m bench.report`).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import sst5_or_examples, utc_now, write_result
from .measure import five_level_objective

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

    from sentscore.model.base import bundled_model_path

    data = sst5_or_examples("train")
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    texts = pd.read_csv(data)["sentence"].astype(str).tolist()
    return data, length_grouped_batches(texts, tokenizer, steps + WARM_UP_BATCHES)


def cpu_training_config(bf16: bool | None = None) -> Any:
    """``sentscore train``'s default config on this CPU (``bf16``: None decides as it does)."""
    from sentscore import TrainConfig

    return TrainConfig(device="cpu", bf16=bf16)


def bundled_model_for_training() -> Any:
    """The bundled model as ``sentscore train`` sets it up by default (5-level head, dropout settings, word
    embeddings and the lowest encoder layers frozen), seeded by the default config."""
    from sentscore.data import ScoreScale
    from sentscore.model.objectives import Classification
    from sentscore.training.recipe import build_model

    scale = ScoreScale(("1", "2", "3", "4", "5"))
    model = build_model(cpu_training_config(), scale, Classification(len(scale)))[0]
    model.train()
    return model


def default_bf16() -> bool:
    """Whether ``sentscore train`` would train in mixed precision bf16 on this CPU by default."""
    from sentscore.training.runtime import bf16_by_default

    return bf16_by_default("cpu", cpu_training_config())


def training_step(model: Any, fused: bool = False, bf16: bool | None = None) -> Any:
    """A function running one training step (forward, backward, AdamW) on a batch; the forward under bf16
    autocast, as the Trainer runs it with ``bf16`` (None: as ``sentscore train`` would on this CPU), and the
    objective's loss on its outputs, as sentscore's Trainer computes it."""
    import torch

    from sentscore.training.runtime import tune_process_for_training

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=fused)
    bf16 = default_bf16() if bf16 is None else bf16
    tune_process_for_training(cpu_training_config(bf16))  # as `sentscore train` does
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
    objective = five_level_objective()

    def step(batch: Any) -> None:
        labels = torch.zeros(batch["input_ids"].shape[0], dtype=torch.long)
        with autocast:
            outputs = model(**batch)
        objective.loss(outputs, labels).backward()
        optimizer.step()
        optimizer.zero_grad()

    return step


#: The modes compared.
MODES = ("eager", "torch.compile(dynamic=True)", "torch.compile per encoder layer (dynamic=True)")
ROUNDS = 5


def compiled_as(model: Any, mode: str) -> Any:
    """``model`` set up to run as ``mode`` says."""
    import torch

    if mode == "torch.compile(dynamic=True)":
        return torch.compile(model, dynamic=True)
    if mode == "torch.compile per encoder layer (dynamic=True)":
        for layer in model.base_model.encoder.layer:  # the bundled model is a BERT: its layers are encoder.layer
            layer.compile(dynamic=True)
    return model


def warm_up(mode: str, batches: list[Any]) -> tuple[Any, float]:
    """A training step function for ``mode``, and the seconds its first batches took (the compile time)."""
    # A fresh compile cache for each mode: kernels cached by an earlier run would hide the warm-up.
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-inductor-")
    step = training_step(compiled_as(bundled_model_for_training(), mode))
    started = time.perf_counter()
    for batch in batches:
        step(batch)
    return step, time.perf_counter() - started


def timed_rounds(steps: dict[str, Any], batches: list[Any], rounds: int) -> list[dict[str, float]]:
    """Tokens/s of each mode on the same batches, the modes interleaved in ``rounds`` rounds (each round
    starting with another mode) so that the machine's drift falls on all of them alike."""
    chunk = max(1, len(batches) // rounds)
    modes = list(steps)
    rows = []
    for r in range(rounds):
        part = batches[r * chunk : (r + 1) * chunk]
        tokens = sum(int(b["attention_mask"].sum()) for b in part)
        row = {}
        for mode in modes[r % len(modes) :] + modes[: r % len(modes)]:
            started = time.perf_counter()
            for batch in part:
                steps[mode](batch)
            row[mode] = tokens / (time.perf_counter() - started)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40, help="Timed steps after the warm-up, split into rounds.")
    args = parser.parse_args()
    import torch

    data, batches = training_batches(args.steps)
    results: dict[str, Any] = {
        "started": utc_now(),
        "data": data.name,
        "batch_size": BATCH_SIZE,
        "torch": torch.__version__,
        "precision": "bf16" if default_bf16() else "fp32",
    }
    steps = {}
    for mode in MODES:
        steps[mode], seconds = warm_up(mode, batches[:WARM_UP_BATCHES])
        results[mode] = {"warm_up_seconds": seconds}
        print(f"[compile] {mode}: warm-up {seconds:.1f} s", flush=True)
    rounds = timed_rounds(steps, batches[WARM_UP_BATCHES:], ROUNDS)
    for mode in MODES:
        rates = [row[mode] for row in rounds]
        results[mode].update(
            steady_tokens_per_s=statistics.median(rates),
            median_ratio_to_eager=statistics.median(row[mode] / row["eager"] for row in rounds),
        )
        print(f"[compile] {mode}: {results[mode]}", flush=True)
    results["rounds"] = rounds
    path = write_result("compile", results)
    print(f"[compile] wrote {path}; render with: python -m bench.report")


if __name__ == "__main__":
    main()
