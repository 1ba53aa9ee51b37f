"""One training run, in its own process (so peak memory is its own): sentscore, or the reference recipe.

    python -m bench.train_worker {sentscore,reference} --train T.csv --dev D.csv --out result.json [--set k=v ...]

Both runs get the same callback, which every quarter epoch pauses the clock, scores the dev set with the
current weights and records (training seconds so far, dev accuracy): the data for time-to-accuracy.
Evaluation time is excluded from training time on both sides.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import matmul_peak
from .measure import (
    DevAccuracyClock,
    count_real_tokens,
    five_level_objective,
    non_embedding_params,
    peak_rss_mb,
    training_flops_per_token,
)
from .reference import run_reference


def run_sentscore(train_csv: str, dev_csv: str, overrides: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """``sentscore train`` on ``train_csv`` (its process tuned as the CLI tunes it), timed by the dev clock."""
    from transformers import AutoTokenizer

    from sentscore import TrainConfig, train
    from sentscore.data import load_labelled
    from sentscore.model.base import bundled_model_path
    from sentscore.training.examples import prepare_data
    from sentscore.training.runtime import tune_process_for_training

    config = TrainConfig.from_dict({"train_file": train_csv, "output_dir": str(workdir / "model"), **overrides})
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    dev = load_labelled(dev_csv, num_labels=5)
    clock = DevAccuracyClock(dev.texts, dev.label_ids, tokenizer, config.max_length, five_level_objective())
    tune_process_for_training(config)
    started = time.perf_counter()
    result = train(config, show_progress=False, callbacks=[clock.callback])
    wall = time.perf_counter() - started
    peak = peak_rss_mb()  # before the benchmark loads anything else
    train_data = prepare_data(config)[0]
    encoder = model_as_trained(config, train_data).base_model  # the encoder alone: bench.run counts no head
    return {
        "config": config.to_dict(),
        "precision": "bf16" if result.config.bf16 else "fp32",  # result.config has the defaults resolved
        "train_samples": result.train_samples,
        "epochs": config.num_train_epochs,
        "real_tokens_per_epoch": count_real_tokens(tokenizer, train_data.texts, config.max_length),
        "non_embedding_params": non_embedding_params(encoder),
        "training_flops_per_token": training_flops_per_token(encoder),
        "train_seconds": clock.train_seconds,
        "trainer_seconds": result.train_seconds,
        "wall_seconds": wall,
        "curve": clock.points,
        "kept_dev_accuracy": clock.dev_accuracy(load_kept(workdir / "model")),
        "model_dir": str(workdir / "model"),
        "peak_rss_mb": peak,
    }


def model_as_trained(config: Any, train_data: Any) -> Any:
    """The model as ``train`` set it up for ``config`` (weights frozen as configured), for counting FLOPs."""
    from sentscore.training.recipe import build_model, build_objective

    return build_model(config, train_data.scale, build_objective(config, train_data))[0]


def load_kept(model_dir: Path) -> Any:
    from sentscore.model.loading import load_trained

    return load_trained(model_dir)  # the stock head or sentscore's own


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("impl", choices=("sentscore", "reference"))
    parser.add_argument("--train", required=True)
    parser.add_argument("--dev", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--keep", help="Copy the trained sentscore model here (for the scoring benchmark).")
    parser.add_argument("--set", action="append", default=[], help="sentscore config override key=value")
    args = parser.parse_args()
    import torch

    # The machine's speed drifts on a shared VM: a matmul probe on each side of the run shows by how much.
    probe_before = matmul_peak(repeats=3)
    with tempfile.TemporaryDirectory() as tmp:
        if args.impl == "sentscore":
            overrides = dict(item.split("=", 1) for item in args.set)
            overrides.setdefault("num_train_epochs", args.epochs)
            result = run_sentscore(args.train, args.dev, overrides, Path(tmp))
            if args.keep:
                shutil.rmtree(args.keep, ignore_errors=True)
                shutil.copytree(result["model_dir"], args.keep)
                result["model_dir"] = args.keep
        else:
            result = run_reference(args.train, args.dev, Path(tmp), args.epochs)
            del result["dev_probabilities"]  # the speed benchmark keeps the kept model's accuracy alone
    result["matmul_gflops_around_run"] = [probe_before, matmul_peak(repeats=3)]
    result["impl"] = args.impl
    result["torch_threads"] = torch.get_num_threads()
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
