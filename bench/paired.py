"""Training throughput of sentscore and of the reference recipe in alternating rounds, a matmul probe in
each round: ratios that the machine's drift cannot skew.

    .venv/bin/python -m bench.paired [--rounds 8] [--samples 256]

``bench.run`` trains each side for minutes, one after the other, and a shared VM's speed drifts between
them. Here each side's own training set-up is captured from a real run (``sentscore.train`` and the
reference recipe, both stopped after one step: the model, the optimizer and schedule the Trainer built, and
the epoch's batches in the order its sampler gives), then rounds alternate: the same number of sentences
through each side's training steps (forward, backward, gradient clipping, optimizer and schedule steps, as
the Trainer's loop does), then a matmul probe (fp32, and bf16 for steps that multiply in it). Each round
yields a ratio, and each side's FLOP/s a share of the peak measured seconds later.

Each side lives in its own process, started fresh as a real run is: process-wide settings a side makes
(sentscore's side tunes its process as ``sentscore train`` does: when training in bf16 that sizes oneDNN's
primitive cache, which oneDNN reads once per process, and fixes glibc's mmap threshold) then hold for that
side alone, as they do in ``bench.run``. The sides take turns, never overlap.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import SST5, matmul_peak, utc_now, write_result
from .measure import five_level_objective, training_flops_per_token
from .reference import run_reference


def capture_callback() -> Any:
    """A TrainerCallback keeping what the Trainer built for training, and stopping after the first step."""
    from transformers import TrainerCallback

    class Capture(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
            self.parts = {
                "model": model,
                "optimizer": optimizer,
                "scheduler": lr_scheduler,
                "batches": list(kwargs["train_dataloader"]),
                "max_grad_norm": args.max_grad_norm,
                # The Trainer wrapped the model's forward in autocast for mixed precision: the steps here use it.
                "precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",
                "batch_size": args.per_device_train_batch_size,
            }

        def on_step_end(self, args, state, control, **kwargs):
            control.should_training_stop = True

    return Capture()


def capture_sentscore(train_csv: str, workdir: Path) -> dict[str, Any]:
    from sentscore import TrainConfig, train
    from sentscore.training.runtime import tune_process_for_training

    capture = capture_callback()
    config = TrainConfig.from_dict({"train_file": train_csv, "output_dir": str(workdir / "sentscore")})
    tune_process_for_training(config)  # as `sentscore train` does
    train(config, show_progress=False, callbacks=[capture])
    return {**capture.parts, "loss": objective_loss(five_level_objective())}


def capture_reference(train_csv: str, dev_csv: str, workdir: Path) -> dict[str, Any]:
    capture = capture_callback()
    run_reference(train_csv, dev_csv, workdir, callbacks=[capture])
    return {**capture.parts, "loss": model_loss}


def model_loss(model: Any, batch: Any) -> Any:
    """The loss as the stock Trainer computes it: the model's own, from the labels in the batch."""
    return model(**batch).loss


def objective_loss(objective: Any) -> Any:
    """The loss as sentscore's Trainer computes it (its ``compute_loss_func``): the objective's loss on the
    model's outputs, the labels kept out of the model's inputs."""

    def loss(model: Any, batch: Any) -> Any:
        inputs = dict(batch)
        labels = inputs.pop("labels")
        return objective.loss(model(**inputs), labels)

    return loss


def timed_steps(parts: dict[str, Any], batch_indices: list[int]) -> dict[str, float]:
    """Training steps over the given batches, as the Trainer's inner loop runs them; rate and real tokens."""
    import torch

    model, optimizer, scheduler = parts["model"], parts["optimizer"], parts["scheduler"]
    model.train()
    batches = [parts["batches"][i] for i in batch_indices]
    started = time.perf_counter()
    for batch in batches:
        parts["loss"](model, batch).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), parts["max_grad_norm"])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    seconds = time.perf_counter() - started
    samples = sum(int(b["input_ids"].shape[0]) for b in batches)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    return {"seconds": seconds, "samples_per_s": samples / seconds, "real_tokens_per_s": tokens / seconds}


def serve_side(name: str, train_csv: str, dev_csv: str, workdir: str, conn: Any) -> None:
    """A side's process: capture its training set-up, describe it, then time the steps asked for until told
    to stop (``None``)."""
    if name == "reference":
        parts = capture_reference(train_csv, dev_csv, Path(workdir))
    else:
        parts = capture_sentscore(train_csv, Path(workdir))
    conn.send(
        {
            "batches": len(parts["batches"]),
            "batch_size": parts["batch_size"],
            "precision": parts["precision"],
            "flops_per_token": training_flops_per_token(parts["model"]),
        }
    )
    while (batch_indices := conn.recv()) is not None:
        conn.send(timed_steps(parts, batch_indices))


class Side:
    """One side's process, started and set up; :meth:`steps` times training steps in it."""

    def __init__(self, name: str, train_csv: str, dev_csv: str, workdir: Path):
        context = multiprocessing.get_context("spawn")  # a fresh interpreter, as a real run starts in
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve_side, args=(name, train_csv, dev_csv, str(workdir), child))
        self.process.start()
        self.info: dict[str, Any] = self.conn.recv()

    def steps(self, batch_indices: list[int]) -> dict[str, float]:
        self.conn.send(batch_indices)
        return self.conn.recv()

    def close(self) -> None:
        self.conn.send(None)
        self.process.join()


def run_rounds(sides: dict[str, Side], rounds: int, samples: int, seed: int = 0) -> list[dict[str, Any]]:
    """One untimed warm-up round, then ``rounds`` rounds; the side that goes first alternates."""
    rng = np.random.default_rng(seed)
    names = list(sides)
    results = []
    for number in range(rounds + 1):
        row: dict[str, Any] = {}
        for name in names if number % 2 else names[::-1]:
            info = sides[name].info
            steps = max(1, samples // info["batch_size"])
            # Batches drawn from the whole epoch: a length-grouped sampler orders them by length.
            chosen = rng.choice(info["batches"], size=steps, replace=False).tolist()
            row[name] = sides[name].steps(chosen)
        row["matmul_gflops"] = matmul_peak(repeats=3)
        row["matmul_gflops_bf16"] = matmul_peak(repeats=3, dtype="bfloat16")
        if number:
            results.append(row)
    return results


def summarise(rows: list[dict[str, Any]], flops_per_token: dict[str, int]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "rounds": len(rows),
        "median_matmul_gflops": statistics.median(r["matmul_gflops"] for r in rows),
        "median_matmul_gflops_bf16": statistics.median(r["matmul_gflops_bf16"] for r in rows),
    }
    for name, flops in flops_per_token.items():
        gflops = [flops * r[name]["real_tokens_per_s"] / 1e9 for r in rows]
        summary[name] = {
            "median_samples_per_s": statistics.median(r[name]["samples_per_s"] for r in rows),
            "median_real_tokens_per_s": statistics.median(r[name]["real_tokens_per_s"] for r in rows),
            "median_gflops": statistics.median(gflops),
            "median_share_of_round_peak": statistics.median(
                g / r["matmul_gflops"] for g, r in zip(gflops, rows, strict=True)
            ),
            "median_share_of_round_bf16_peak": statistics.median(
                g / r["matmul_gflops_bf16"] for g, r in zip(gflops, rows, strict=True)
            ),
            "training_flops_per_token": flops,
        }
    ratios = [r["sentscore"]["samples_per_s"] / r["reference"]["samples_per_s"] for r in rows]
    summary["samples_per_s_ratio"] = {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8, help="Timed rounds (after one warm-up round).")
    parser.add_argument("--samples", type=int, default=256, help="Training sentences per side per round.")
    args = parser.parse_args()
    if not (SST5 / "train.csv").is_file():
        raise SystemExit(f"bench.paired needs {SST5}/train.csv and dev.csv")
    import torch

    started = utc_now()
    train_csv, dev_csv = str(SST5 / "train.csv"), str(SST5 / "dev.csv")
    with tempfile.TemporaryDirectory() as tmp:
        sides = {name: Side(name, train_csv, dev_csv, Path(tmp)) for name in ("reference", "sentscore")}
        try:
            rows = run_rounds(sides, args.rounds, args.samples)
        finally:
            for side in sides.values():
                side.close()
    flops = {name: side.info["flops_per_token"] for name, side in sides.items()}
    result = {
        "started": started,
        "precision": {name: side.info["precision"] for name, side in sides.items()},
        "rounds": rows,
        "summary": summarise(rows, flops),
        "samples_per_round": args.samples,
        "batch_sizes": {name: side.info["batch_size"] for name, side in sides.items()},
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    write_result("paired", result)
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
