"""The reference recipe sentscore is compared against: the tutorial script as users copy it, for training,
scoring in a loop and scoring one sentence from the command line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .measure import DevAccuracyClock, five_level_objective, non_embedding_params, peak_rss_mb, training_flops_per_token

#: The recipe's truncation length when training.
MAX_LENGTH = 128


def run_reference(
    train_csv: str,
    dev_csv: str,
    workdir: Path,
    epochs: float = 3,
    callbacks: list[Any] | None = None,
    seed: int = 42,
) -> dict[str, Any]:
    """The recipe as users copy it: slow BertTokenizer, batch 8, random order, Trainer defaults, lr 2e-5,
    an 80/20 random split (seeded here so the benchmark repeats), best model by eval loss. The result's
    ``dev_probabilities`` are the kept model's on the dev file."""
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

    from sentscore.model.base import bundled_model_path

    started = time.perf_counter()
    model_path = str(bundled_model_path())
    frame = pd.read_csv(train_csv)
    frame["label"] = frame["score"] - 1
    train_df, val_df = train_test_split(frame, test_size=0.2, random_state=seed)
    tokenizer = BertTokenizer.from_pretrained(model_path)

    def tokenize(batch):
        return tokenizer(batch["sentence"], truncation=True, max_length=MAX_LENGTH)

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
        seed=seed,
    )
    dev = pd.read_csv(dev_csv)
    clock = DevAccuracyClock(
        dev["sentence"].tolist(), (dev["score"] - 1).tolist(), tokenizer, MAX_LENGTH, five_level_objective()
    )
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
        "dev_probabilities": clock.dev_probabilities(trainer.model),
        "peak_rss_mb": peak,
    }


def reference_loop(model_dir: Path):
    """The recipe's predict function, model loaded once: slow tokenizer, max_length 512, one at a time. The
    model loads through sentscore (the recipe's BertForSequenceClassification cannot read sentscore's own
    head; the forward pass is the same encoder's)."""
    import torch
    from transformers import BertTokenizer

    from sentscore.model.loading import load_trained

    tokenizer = BertTokenizer.from_pretrained(str(model_dir))
    model = load_trained(model_dir).eval()

    def predict(texts):
        out = []
        for text in texts:
            inputs = tokenizer(text, return_tensors="pt", truncation=True, padding=True, max_length=512)
            with torch.no_grad():
                out.append(int(torch.argmax(model(**inputs).logits, dim=1).item()))
        return out

    return predict


#: The recipe's predict script: ``python -c REFERENCE_PREDICT MODEL_DIR SENTENCE`` prints the score.
REFERENCE_PREDICT = """
import sys, torch
from transformers import BertTokenizer
from sentscore.model.loading import load_trained  # the recipe's BertForSequenceClassification, for either head
model = load_trained(sys.argv[1])
tokenizer = BertTokenizer.from_pretrained(sys.argv[1])
inputs = tokenizer(sys.argv[2], return_tensors="pt", truncation=True, padding=True, max_length=512)
with torch.no_grad():
    print(f"Score: {torch.argmax(model(**inputs).logits, dim=1).item() + 1}")
"""
