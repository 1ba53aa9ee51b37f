"""The contrastive step before fine-tuning (contrastive_pairs), on the tiny model."""

from collections import Counter

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sentscore import TrainConfig, train
from sentscore.data import load_labelled
from sentscore.training.steps.contrastive import contrastive_step, sentence_pairs

from .conftest import synthetic_rows, write_csv


@given(
    levels=st.lists(st.integers(0, 3), min_size=2, max_size=30),
    per_sentence=st.integers(1, 6),
    seed=st.integers(0, 10),
)
def test_each_sentence_gets_its_pairs_half_of_its_own_level(levels, per_sentence, seed):
    texts = [f"sentence {i}" for i in range(len(levels))]
    level_of = dict(zip(texts, levels, strict=True))
    pairs = sentence_pairs(texts, levels, per_sentence, seed)
    assert Counter(pairs["sentence1"]) == {text: per_sentence for text in texts}
    for first, second, label in zip(pairs["sentence1"], pairs["sentence2"], pairs["label"], strict=True):
        assert label == (1.0 if level_of[first] == level_of[second] else 0.0)
    if len(set(levels)) > 1:  # with another level to draw from, every second pair is with it
        assert sum(pairs["label"]) == len(texts) * ((per_sentence + 1) // 2)


def _level_separation(model, tokenizer, data) -> float:
    """Mean cosine similarity of sentences of one level minus that of sentences of different levels."""
    import torch

    from sentscore.model.heads import pool

    model.eval()
    with torch.no_grad():
        batch = tokenizer(data.texts, padding=True, return_tensors="pt")
        hidden = model.base_model(**batch).last_hidden_state
        vectors = torch.nn.functional.normalize(pool(hidden, batch["attention_mask"], "mean"), dim=-1)
    similarity = (vectors @ vectors.T).numpy()
    levels = np.asarray(data.label_ids)
    same = levels[:, None] == levels[None, :]
    off_diagonal = ~np.eye(len(levels), dtype=bool)
    return float(similarity[same & off_diagonal].mean() - similarity[~same].mean())


def test_the_contrastive_step_brings_sentences_of_one_level_together(tiny_model_dir, tmp_path):
    from sentscore.model.loading import load_for_training
    from sentscore.model.objectives import OBJECTIVES

    data = load_labelled(str(write_csv(tmp_path / "d.csv", synthetic_rows(6))))
    tokenizer, model = load_for_training(
        str(tiny_model_dir), data.scale, objective=OBJECTIVES["classification"](5), pooling="mean"
    )
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        contrastive_pairs=8,
        contrastive_learning_rate=1e-3,
        max_length=32,
        pooling="mean",
        train_batch_size=16,
    )
    before = _level_separation(model, tokenizer, data)
    seconds = contrastive_step(model, tokenizer, data, config, "cpu")
    after = _level_separation(model, tokenizer, data)
    assert seconds > 0
    assert after > before + 0.05, (before, after)


def test_training_with_a_contrastive_step_writes_a_usable_model(tiny_model_dir, tmp_path):
    from sentscore import Scorer

    config = TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=str(write_csv(tmp_path / "d.csv", synthetic_rows(8))),
        output_dir=str(tmp_path / "out"),
        num_train_epochs=1,
        learning_rate=1e-3,
        max_length=32,
        contrastive_pairs=2,
    )
    result = train(config, show_progress=False)
    assert result.config.contrastive_pairs == 2
    probabilities = Scorer.load(tmp_path / "out", backend="torch").predict_proba(["the food was great"])
    np.testing.assert_allclose(probabilities.sum(), 1.0, atol=1e-5)
