"""One training run, in its own process (so peak memory is its own): sentscore, or the reference recipe.

    python -m bench.train_worker {sentscore,reference} --train T.csv --dev D.csv --out result.json [--set k=v ...]

Both runs get the same callback, which every quarter epoch pauses the clock, scores the dev set with the
current weights and records (training seconds so far, dev accuracy): the data for time-to-accuracy.
Evaluation time is excluded from training time on both sides.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def count_real_tokens(tokenizer: Any, texts: list[str], max_length: int) -> int:
    return sum(len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"])


def non_embedding_params(model: Any) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)


def training_flops_per_token(model: Any) -> int:
    """Matrix-product FLOPs one real token costs in a training step, for the model as set up to train:
    per weight, 2 forward, 2 for the gradient of its input and 2 for its own gradient (6 x the
    non-embedding parameters). Encoder layers frozen below every trained weight (embeddings included) run
    forward only: backprop stops at the lowest trained layer, so counting 6 for them would credit work that
    is never done."""
    from sentscore.training import encoder_layers

    if any(w.requires_grad for w in model.base_model.embeddings.parameters()):
        return 6 * non_embedding_params(model)
    frozen_below = 0
    for layer in encoder_layers(model):
        weights = list(layer.parameters())
        if any(w.requires_grad for w in weights):
            break
        frozen_below += sum(w.numel() for w in weights)
    return 6 * non_embedding_params(model) - 4 * frozen_below


class DevAccuracyClock:
    """A TrainerCallback factory: training time excluding the dev evaluations and Trainer evaluations,
    with the dev accuracy recorded every quarter epoch (the time-to-accuracy curve)."""

    evals_per_epoch = 4

    def __init__(self, dev_texts: list[str], dev_labels: list[int], tokenizer: Any, max_length: int):
        from transformers import TrainerCallback

        self.points: list[dict[str, float]] = []
        self.train_seconds = 0.0
        outer = self

        class Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                outer._started = time.perf_counter()
                evals = args.num_train_epochs * outer.evals_per_epoch
                every = state.max_steps / evals
                steps = {min(state.max_steps, max(1, round(every * k))) for k in range(1, math.ceil(evals) + 1)}
                outer._checkpoints = sorted(steps)

            def on_step_end(self, args, state, control, model=None, **kwargs):
                due = [step for step in outer._checkpoints if step <= state.global_step]
                if due:
                    outer._checkpoints = outer._checkpoints[len(due) :]
                    outer.record(state, model)

            def on_evaluate(self, args, state, control, **kwargs):
                outer._started = time.perf_counter()  # the Trainer's own evaluation is not training time

            def on_save(self, args, state, control, **kwargs):
                outer._started = time.perf_counter()  # nor is writing a checkpoint

        self.callback = Callback()
        self.dev_texts, self.dev_labels = dev_texts, np.asarray(dev_labels)
        self.tokenizer, self.max_length = tokenizer, max_length

    def record(self, state: Any, model: Any) -> None:
        """Stop the clock, score the dev set with the current weights, restart the clock."""
        self.train_seconds += time.perf_counter() - self._started
        accuracy = self.dev_accuracy(model)
        self.points.append({"epoch": float(state.epoch), "train_seconds": self.train_seconds, "dev_accuracy": accuracy})
        self._started = time.perf_counter()

    def dev_accuracy(self, model: Any) -> float:
        import torch

        from sentscore.training import fp32_forward

        was_training = model.training
        model.eval()
        order = np.argsort([len(t) for t in self.dev_texts])
        predictions = np.empty(len(order), dtype=int)
        # Score in fp32, as predict does, even while mixed precision wraps the forward in autocast.
        with torch.inference_mode(), fp32_forward(model):
            for start in range(0, len(order), 64):
                idx = order[start : start + 64]
                batch = self.tokenizer(
                    [self.dev_texts[i] for i in idx],
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                ).to(model.device)
                predictions[idx] = model(**batch).logits.argmax(-1).cpu().numpy()
        if was_training:
            model.train()
        return float(np.mean(predictions == self.dev_labels))


def run_sentscore(train_csv: str, dev_csv: str, overrides: dict[str, Any], workdir: Path) -> dict[str, Any]:
    from sentscore import TrainConfig, train
    from sentscore.data import load_labelled
    from sentscore.models import bundled_model_path

    config = TrainConfig.from_dict({"train_file": train_csv, "output_dir": str(workdir / "model"), **overrides})
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    dev = load_labelled(dev_csv, num_labels=5)
    clock = DevAccuracyClock(dev.texts, dev.label_ids, tokenizer, config.max_length)
    started = time.perf_counter()
    result = train(config, show_progress=False, callbacks=[clock.callback])
    wall = time.perf_counter() - started
    peak = peak_rss_mb()  # before the benchmark loads anything else
    train_texts = _train_texts(config)
    from transformers import AutoModel

    from sentscore.training import freeze_as_configured

    encoder = AutoModel.from_pretrained(str(bundled_model_path()))
    freeze_as_configured(encoder, config)  # as the run froze it, so the FLOP count matches
    used = json.loads((workdir / "model" / "sentscore.json").read_text())["config"]  # defaults resolved
    return {
        "config": config.to_dict(),
        "precision": "bf16" if used["bf16"] else "fp32",
        "train_samples": result.train_samples,
        "epochs": config.num_train_epochs,
        "real_tokens_per_epoch": count_real_tokens(tokenizer, train_texts, config.max_length),
        "non_embedding_params": non_embedding_params(encoder),
        "training_flops_per_token": training_flops_per_token(encoder),
        "train_seconds": clock.train_seconds,
        "trainer_seconds": result.train_seconds,
        "wall_seconds": wall,
        "curve": clock.points,
        "kept_dev_accuracy": clock.dev_accuracy(_load_kept(workdir / "model")),
        "model_dir": str(workdir / "model"),
        "peak_rss_mb": peak,
    }


def _train_texts(config: Any) -> list[str]:
    from sentscore.training import prepare_data

    return prepare_data(config)[0].texts


def _load_kept(model_dir: Path) -> Any:
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(str(model_dir))


def run_reference(
    train_csv: str, dev_csv: str, workdir: Path, epochs: float = 3, callbacks: list[Any] | None = None
) -> dict[str, Any]:
    """The recipe as users copy it: slow BertTokenizer, batch 8, random order, Trainer defaults, lr 2e-5,
    an 80/20 random split (seeded here so the benchmark repeats), best model by eval loss."""
    import pandas as pd
    from datasets import Dataset
    from sklearn.model_selection import train_test_split
    from transformers import (
        BertForSequenceClassification,
        BertTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from sentscore.models import bundled_model_path

    started = time.perf_counter()
    model_path = str(bundled_model_path())
    frame = pd.read_csv(train_csv)
    frame["label"] = frame["score"] - 1
    train_df, val_df = train_test_split(frame, test_size=0.2, random_state=42)
    tokenizer = BertTokenizer.from_pretrained(model_path)

    def tokenize(batch):
        return tokenizer(batch["sentence"], truncation=True, max_length=128)

    train_ds = Dataset.from_pandas(train_df[["sentence", "label"]], preserve_index=False).map(tokenize, batched=True)
    val_ds = Dataset.from_pandas(val_df[["sentence", "label"]], preserve_index=False).map(tokenize, batched=True)
    model = BertForSequenceClassification.from_pretrained(model_path, num_labels=5)

    def accuracy(eval_pred):
        logits, labels = eval_pred
        return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}

    args = TrainingArguments(
        output_dir=str(workdir / "ref"),
        num_train_epochs=epochs,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        learning_rate=2e-5,
        eval_strategy="epoch",
        save_strategy="epoch",
        load_best_model_at_end=True,
        report_to="none",
        disable_tqdm=True,
    )
    dev = pd.read_csv(dev_csv)
    clock = DevAccuracyClock(dev["sentence"].tolist(), (dev["score"] - 1).tolist(), tokenizer, 128)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=accuracy,
        callbacks=[clock.callback, *(callbacks or [])],
    )
    trainer.train()
    wall = time.perf_counter() - started
    peak = peak_rss_mb()
    return {
        "train_samples": len(train_ds),
        "epochs": epochs,
        "real_tokens_per_epoch": sum(len(ids) for ids in train_ds["input_ids"]),
        "non_embedding_params": non_embedding_params(model),
        "training_flops_per_token": training_flops_per_token(model),
        "train_seconds": clock.train_seconds,
        "wall_seconds": wall,
        "curve": clock.points,
        "kept_dev_accuracy": clock.dev_accuracy(trainer.model),
        "peak_rss_mb": peak,
    }


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

    from .run import matmul_peak

    # The machine's speed drifts on a shared VM: a matmul probe on each side of the run shows by how much.
    probe_before = matmul_peak(repeats=3)
    with tempfile.TemporaryDirectory() as tmp:
        if args.impl == "sentscore":
            overrides = dict(item.split("=", 1) for item in args.set)
            overrides.setdefault("num_train_epochs", args.epochs)
            result = run_sentscore(args.train, args.dev, overrides, Path(tmp))
            if args.keep:
                import shutil

                shutil.rmtree(args.keep, ignore_errors=True)
                shutil.copytree(result["model_dir"], args.keep)
                result["model_dir"] = args.keep
        else:
            result = run_reference(args.train, args.dev, Path(tmp), args.epochs)
    result["matmul_gflops_around_run"] = [probe_before, matmul_peak(repeats=3)]
    result["impl"] = args.impl
    result["torch_threads"] = torch.get_num_threads()
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
