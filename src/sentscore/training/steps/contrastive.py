"""A contrastive step before fine-tuning, for small training sets (SetFit, Tunstall et al. 2022).

With a few hundred sentences, fine-tuning moves the encoder by few steps; pairs of training sentences give it
many more: the encoder is first trained (with sentence-transformers' trainer and cosine-similarity loss) to
bring sentences of one level together and push those of different levels apart, and fine-tuning then starts
from those weights. Sentence-transformers comes with the bundled model's package.
"""

from __future__ import annotations

import logging
import random
import tempfile
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...config import TrainConfig
    from ...data import LabelledData
    from .run import Run

logger = logging.getLogger(__name__)


def contrastive(run: Run) -> None:
    """The step: the model's encoder trained on pairs of the training sentences before fine-tuning."""
    from ...model.loading import pick_device

    seconds = contrastive_step(run.model, run.tokenizer, run.train_data, run.config, pick_device(run.config.device))
    logger.info("Contrastive step took %.0f s", seconds)


def sentence_pairs(texts: list[str], label_ids: list[int], per_sentence: int, seed: int) -> dict[str, list[Any]]:
    """For each sentence, ``per_sentence`` pairs with other training sentences: every other one of its own
    level (similarity 1), the rest of another level (similarity 0), drawn with ``seed`` (SetFit's sampling).
    A level with a single sentence pairs that sentence with itself."""
    rng = random.Random(seed)
    by_level: dict[int, list[str]] = {}
    for text, level in zip(texts, label_ids, strict=True):
        by_level.setdefault(level, []).append(text)
    pairs: dict[str, list[Any]] = {"sentence1": [], "sentence2": [], "label": []}
    for text, level in zip(texts, label_ids, strict=True):
        others = [other for other in by_level if other != level]
        for i in range(per_sentence):
            same = i % 2 == 0 or not others
            partner = rng.choice(by_level[level] if same else by_level[rng.choice(others)])
            pairs["sentence1"].append(text)
            pairs["sentence2"].append(partner)
            pairs["label"].append(1.0 if same else 0.0)
    return pairs


def contrastive_step(model: Any, tokenizer: Any, data: LabelledData, config: TrainConfig, device: str) -> float:
    """Train ``model``'s encoder on sentence pairs of ``data`` (``config.contrastive_pairs`` per sentence, one
    epoch at ``contrastive_learning_rate``), in place; returns the seconds it took."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, losses
    from sentence_transformers import SentenceTransformerTrainingArguments as Arguments
    from sentence_transformers.models import Pooling, Transformer

    pairs = Dataset.from_dict(sentence_pairs(data.texts, data.label_ids, config.contrastive_pairs, config.seed))
    logger.info("Contrastive step: %d sentence pairs", len(pairs))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sentscore-contrastive-") as work:
        model.base_model.save_pretrained(f"{work}/encoder")
        tokenizer.save_pretrained(f"{work}/encoder")
        body = Transformer(f"{work}/encoder", max_seq_length=config.max_length)
        pooled = Pooling(body.get_embedding_dimension(), pooling_mode=config.pooling)
        encoder = SentenceTransformer(modules=[body, pooled], device=device)
        args = Arguments(
            output_dir=f"{work}/trainer",
            num_train_epochs=1,
            per_device_train_batch_size=config.train_batch_size,
            learning_rate=config.contrastive_learning_rate,
            warmup_steps=0.1,  # a float below 1 is a share of the steps
            seed=config.seed,
            data_seed=config.seed,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=device == "cpu",
            dataloader_pin_memory=device == "cuda",
            bf16=bool(config.bf16),  # as fine-tuning trains (on a CPU: where it multiplies bf16 natively)
            fp16=config.fp16,
        )
        trainer = SentenceTransformerTrainer(
            model=encoder, args=args, train_dataset=pairs, loss=losses.CosineSimilarityLoss(encoder)
        )
        trainer.train()
        model.base_model.load_state_dict(body.auto_model.state_dict())
    return time.perf_counter() - started
