import ctypes
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from sentscore import Scorer, TrainConfig, train
from sentscore.errors import SentscoreError
from sentscore.model.folder import TRAIN_OUTPUT_FILES, ModelFolder

from .conftest import pipeline_probabilities, run_recipe_predict, synthetic_rows, write_csv


def test_output_directory_is_exactly_the_contract(trained_tiny_dir):
    assert {p.name for p in trained_tiny_dir.iterdir()} == TRAIN_OUTPUT_FILES


def test_labels_metrics_and_resolved_config_are_saved(trained_tiny_dir):
    model_config = json.loads((trained_tiny_dir / "config.json").read_text())
    assert model_config["id2label"] == {str(i): str(i + 1) for i in range(5)}
    assert model_config["label2id"] == {str(i + 1): i for i in range(5)}
    info = json.loads((trained_tiny_dir / "sentscore.json").read_text())
    assert info["max_length"] == 32 and info["labels"] == ["1", "2", "3", "4", "5"]
    assert info["config"]["learning_rate"] == 1e-3
    # The saved config is resolved: no null stands for a default chosen at training time.
    resolved = ("num_train_epochs", "objective", "pooling", "bf16", "freeze_layers", "num_threads", "dropout")
    assert {key: info["config"][key] for key in resolved if info["config"][key] is None} == {}
    assert info["config"]["freeze_layers"] == 0 and info["config"]["dropout"] == 0.1  # the tiny BERT: 2 layers
    metrics = json.loads((trained_tiny_dir / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1.0, 2.0]
    assert {"accuracy", "macro_f1", "mae", "rmse", "qwk", "spearman", "within_one", "confusion_matrix"} <= set(
        metrics["final"]
    )
    assert sum(map(sum, metrics["final"]["confusion_matrix"])) == metrics["final"]["n"] == 20
    # the kept model is the best epoch by accuracy, and final metrics are that model's
    best = max(e["accuracy"] for e in metrics["epochs"])
    assert metrics["final"]["accuracy"] == pytest.approx(best)
    card = (trained_tiny_dir / "README.md").read_text()
    assert "| Baseline |" in card and "the median training score (3)" in card and "learning_rate" in card


def test_model_card_metadata_parses_back_with_the_validation_metrics(trained_tiny_dir):
    from huggingface_hub import ModelCard

    card = ModelCard.load(trained_tiny_dir / "README.md")
    final = json.loads((trained_tiny_dir / "metrics.json").read_text())["final"]
    found = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert found == {
        "accuracy": round(final["accuracy"], 4),
        "f1": round(final["macro_f1"], 4),
        "quadratic_weighted_kappa": round(final["qwk"], 4),
        "mae": round(final["mae"], 4),
    }
    assert {r.dataset_split for r in card.data.eval_results} == {"validation"}
    assert card.data.base_model is None  # a local folder is not a hub id the hub could link
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "text-classification"
    assert "sentscore" in card.data.tags


def test_model_card_metadata_escapes_what_yaml_would_misread(trained_tiny_dir):
    import dataclasses

    from huggingface_hub import ModelCard

    from sentscore.model.card import front_matter
    from sentscore.model.folder import ModelFolder

    info = dataclasses.replace(
        ModelFolder(trained_tiny_dir).info(), base_model="owner/model", validation_file="data/reviews: 2024 #1.csv"
    )
    metrics = json.loads((trained_tiny_dir / "metrics.json").read_text())
    card = ModelCard(f"---\n{front_matter(info, metrics)}\n---\n\ntext\n")
    assert card.data.base_model == "owner/model"
    assert {r.dataset_name for r in card.data.eval_results} == {"reviews: 2024 #1.csv"}


def test_tokenizer_truncates_at_the_training_length(trained_tiny_dir):
    tokenizer_config = json.loads((trained_tiny_dir / "tokenizer_config.json").read_text())
    assert tokenizer_config["model_max_length"] == 32


def test_pipeline_returns_real_score_labels_and_sentscores_calibrated_probabilities(trained_tiny_dir):
    sentences = ["the food was great", "a terrible room " * 40, "an okay film"]
    ours = Scorer.load(trained_tiny_dir, backend="torch").predict_proba(sentences)
    np.testing.assert_allclose(pipeline_probabilities(trained_tiny_dir, sentences), ours, atol=1e-5)


def test_the_recipes_predict_script_prints_sentscores_score(trained_tiny_dir, tmp_path):
    sentences = ["the food was great and lovely", "the room was awful and dirty", "an okay average film"]
    printed = run_recipe_predict(trained_tiny_dir, sentences, tmp_path)
    assert all(p.returncode == 0 for p in printed), printed[0].stderr
    predictions = Scorer.load(trained_tiny_dir, backend="torch").predict(sentences)
    assert [p.stdout.strip() for p in printed] == [f"Score: {p.score}" for p in predictions]


def test_trained_model_is_never_overwritten_by_accident(trained_tiny_dir, tiny_model_dir, tmp_path):
    data = write_csv(tmp_path / "d.csv", synthetic_rows(4))
    before = (trained_tiny_dir / "model.safetensors").stat().st_mtime_ns
    config = TrainConfig(model_name=str(tiny_model_dir), train_file=str(data), output_dir=str(trained_tiny_dir))
    with pytest.raises(SentscoreError, match="already holds a trained model") as info:
        train(config)
    assert "--overwrite" in info.value.hint
    assert (trained_tiny_dir / "model.safetensors").stat().st_mtime_ns == before


def test_a_folder_of_other_things_is_never_replaced_by_a_model(tiny_model_dir, tmp_path):
    """Training replaces its whole output folder: `--output-dir .` would have taken the project with it."""
    project = tmp_path / "project"
    (project / "models_v1").mkdir(parents=True)
    data = write_csv(project / "d.csv", synthetic_rows(4))
    (project / ".git").mkdir()
    config = TrainConfig(model_name=str(tiny_model_dir), train_file=str(data), output_dir=str(project), overwrite=True)
    with pytest.raises(SentscoreError, match=r"holds what sentscore did not write \(\.git/, d\.csv, models_v1/\)"):
        train(config)
    assert sorted(p.name for p in project.iterdir()) == [".git", "d.csv", "models_v1"]
    # what an interrupted run leaves is not in the way of resuming it
    (tmp_path / "stopped" / ".checkpoints").mkdir(parents=True)
    (tmp_path / "stopped" / "runs").mkdir()
    ModelFolder(tmp_path / "stopped").check_can_write(overwrite=False)


def config_with_validation_file(model_dir, tmp_path, train_rows, validation_rows, **settings) -> TrainConfig:
    """A config training on ``train_rows`` and validating on ``validation_rows``, both written as CSV files."""
    return TrainConfig(
        model_name=str(model_dir),
        train_file=str(write_csv(tmp_path / "train.csv", train_rows)),
        validation_file=str(write_csv(tmp_path / "dev.csv", validation_rows)),
        output_dir=str(tmp_path / "out"),
        **settings,
    )


def test_validation_file_class_weights_and_early_stopping(tiny_model_dir, tmp_path):
    config = config_with_validation_file(
        tiny_model_dir,
        tmp_path,
        synthetic_rows(8, seed=1),
        synthetic_rows(2, seed=2),
        num_train_epochs=6,
        learning_rate=1e-6,
        class_weights=True,
        early_stopping_patience=1,
        metric_for_best_model="mae",
        max_length=16,
        num_labels=5,
    )
    result = train(config)
    assert result.validation_samples == 10 and result.train_samples == 40
    # a learning rate this small cannot improve MAE for long: early stopping ends training before epoch 6
    assert len(result.epochs) < 6
    assert result.metrics["mae"] == pytest.approx(min(e["mae"] for e in result.epochs))


def test_validation_file_with_a_score_outside_the_training_scale(tiny_model_dir, tmp_path):
    config = config_with_validation_file(tiny_model_dir, tmp_path, synthetic_rows(4), [("fine", 3), ("odd", 9)])
    with pytest.raises(SentscoreError, match=r"dev.csv: row 3 has 'score' values \['9'\] outside the labels"):
        train(config)


def test_unreachable_hub_model_names_the_offline_default(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = write_csv(tmp_path / "d.csv", synthetic_rows(4))
    config = TrainConfig(model_name="no-such-org/no-such-model", train_file=str(data), output_dir=str(tmp_path / "out"))
    with pytest.raises(SentscoreError, match="Could not load model 'no-such-org/no-such-model'") as info:
        train(config)
    assert "sentence-transformers/all-MiniLM-L6-v2" in info.value.hint
    assert not (tmp_path / "out").exists()


def test_missing_local_model_folder(tmp_path):
    data = write_csv(tmp_path / "d.csv", synthetic_rows(4))
    config = TrainConfig(model_name=str(tmp_path / "nowhere"), train_file=str(data), output_dir=str(tmp_path / "o"))
    with pytest.raises(SentscoreError, match="Model folder not found"):
        train(config)


def test_text_labels_train_and_keep_their_names(tiny_model_dir, tmp_path):
    words = {"bad": "awful terrible", "ok": "fine average", "good": "great lovely"}
    rows = [(f"the room was {words[label].split()[i % 2]} {i}", label) for label in words for i in range(8)]
    data = write_csv(tmp_path / "d.csv", rows, header=("sentence", "label"))
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=str(data),
        output_dir=str(tmp_path / "out"),
        score_column="label",
        labels=["bad", "ok", "good"],
        num_train_epochs=1,
        max_length=16,
    )
    result = train(config)
    assert "qwk" not in result.metrics and "accuracy" in result.metrics
    model_config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert model_config["id2label"] == {"0": "bad", "1": "ok", "2": "good"}
    with pytest.raises(SentscoreError, match="needs numeric scores"):
        train(TrainConfig(**{**config.to_dict(), "metric_for_best_model": "qwk", "output_dir": str(tmp_path / "o2")}))


@pytest.mark.parametrize("freeze", [True, False])
def test_word_embeddings_stay_fixed_only_when_frozen(tiny_model_dir, tmp_path, freeze):
    from safetensors.torch import load_file

    data = write_csv(tmp_path / "d.csv", synthetic_rows(4))
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=str(data),
        output_dir=str(tmp_path / "out"),
        num_train_epochs=1,
        learning_rate=1e-2,
        train_batch_size=4,  # several steps: the first has a warm-up learning rate of 0
        freeze_embeddings=freeze,
    )
    train(config, show_progress=False)
    before = load_file(tiny_model_dir / "model.safetensors")  # a bare BertModel: no "bert." prefix
    after = load_file(tmp_path / "out" / "model.safetensors")
    key = "embeddings.word_embeddings.weight"
    assert after[f"bert.{key}"].equal(before[key]) is freeze
    key = "encoder.layer.0.output.dense.weight"  # the rest of the encoder trains either way
    assert not after[f"bert.{key}"].equal(before[key])


def test_freeze_layers_keeps_embeddings_and_lowest_layers_fixed(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    data = write_csv(tmp_path / "d.csv", synthetic_rows(4))
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=str(data),
        output_dir=str(tmp_path / "out"),
        num_train_epochs=1,
        learning_rate=1e-2,
        train_batch_size=4,
        freeze_layers=1,
    )
    train(config, show_progress=False)
    before = load_file(tiny_model_dir / "model.safetensors")
    after = load_file(tmp_path / "out" / "model.safetensors")
    for key in ("embeddings.LayerNorm.weight", "embeddings.position_embeddings.weight"):
        assert after[f"bert.{key}"].equal(before[key]), key
    assert after["bert.encoder.layer.0.output.dense.weight"].equal(before["encoder.layer.0.output.dense.weight"])
    assert not after["bert.encoder.layer.1.output.dense.weight"].equal(before["encoder.layer.1.output.dense.weight"])


def _bert_with_layers(depth: int):
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=depth, num_attention_heads=2, intermediate_size=32
    )
    return BertForSequenceClassification(config)


@pytest.mark.parametrize(("depth", "frozen"), [(2, 0), (6, 2), (12, 4)])
def test_by_default_a_third_of_the_encoder_layers_stay_fixed(depth, frozen):
    from sentscore.training.surgery import freeze_lower_layers

    model = _bert_with_layers(depth)
    assert freeze_lower_layers(model, None) == frozen
    trained = [any(p.requires_grad for p in layer.parameters()) for layer in model.bert.encoder.layer]
    assert trained == [False] * frozen + [True] * (depth - frozen)
    assert model.bert.embeddings.position_embeddings.weight.requires_grad is (frozen == 0)


def test_a_model_whose_layers_cannot_be_found_trains_every_layer_by_default_and_refuses_a_count():
    from sentscore.training.surgery import freeze_lower_layers

    model = _bert_with_layers(3)
    model.config.num_hidden_layers = 7  # no module list of 7 layers to find
    assert freeze_lower_layers(model, None) == 0
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(SentscoreError, match="cannot find the encoder layers"):
        freeze_lower_layers(model, 1)


@pytest.mark.parametrize("train_words", [True, False])
def test_freezing_layers_leaves_the_word_embeddings_to_freeze_embeddings(train_words):
    from sentscore.training.surgery import freeze_lower_layers

    model = _bert_with_layers(3)
    model.get_input_embeddings().weight.requires_grad_(train_words)
    freeze_lower_layers(model, 1)
    assert model.get_input_embeddings().weight.requires_grad is train_words
    assert not model.bert.embeddings.LayerNorm.weight.requires_grad


@pytest.mark.parametrize("train_words", [True, False])
def test_fixed_layers_run_without_dropout_and_the_trained_ones_keep_it(train_words):
    from torch import nn

    from sentscore.training.surgery import freeze_lower_layers

    model = _bert_with_layers(3)
    model.get_input_embeddings().weight.requires_grad_(train_words)
    freeze_lower_layers(model, 1)

    def rates(module):
        return {m.p for m in module.modules() if isinstance(m, nn.Dropout)}

    layers = model.bert.encoder.layer
    assert rates(layers[0]) == {0.0}
    assert rates(layers[1]) == rates(layers[2]) == rates(model.dropout) == {0.1}
    assert rates(model.bert.embeddings) == ({0.1} if train_words else {0.0})


def test_freeze_layers_beyond_the_encoder_depth_is_refused(tiny_model_dir, tmp_path):
    data = write_csv(tmp_path / "d.csv", synthetic_rows(4))
    config = TrainConfig(
        model_name=str(tiny_model_dir), train_file=str(data), output_dir=str(tmp_path / "out"), freeze_layers=3
    )
    with pytest.raises(SentscoreError, match="only 2 encoder layers"):
        train(config, show_progress=False)
    assert not (tmp_path / "out").exists()


def test_the_export_after_training_holds_neither_the_trainer_nor_a_second_model(tiny_model_dir, tmp_path, monkeypatch):
    """The export's memory peak does not stack on training's: by the time it fuses the graph, the Trainer (with
    its model and optimizer state) and the copy of the model the export traced are both gone."""
    import gc
    import weakref

    from sentscore.model import loading
    from sentscore.scoring import export
    from sentscore.training import recipe

    held: list[weakref.ref] = []
    build_trainer, load_trained, fused = recipe.build_trainer, loading.load_trained, export._fused

    def building(*args, **kwargs):
        trainer = build_trainer(*args, **kwargs)
        held.extend([weakref.ref(trainer), weakref.ref(trainer.model)])
        return trainer

    def loading_one(*args, **kwargs):
        model = load_trained(*args, **kwargs)
        held.append(weakref.ref(model))
        return model

    alive_at_fusion = []

    def fusing(*args, **kwargs):
        gc.collect()
        alive_at_fusion.append([type(ref()).__name__ for ref in held if ref() is not None])
        return fused(*args, **kwargs)

    monkeypatch.setattr(recipe, "build_trainer", building)
    monkeypatch.setattr(loading, "load_trained", loading_one)
    monkeypatch.setattr(export, "_fused", fusing)
    data = write_csv(tmp_path / "d.csv", synthetic_rows(12))
    config = TrainConfig(model_name=str(tiny_model_dir), train_file=str(data), output_dir=str(tmp_path / "out"))
    result = train(config, show_progress=False)
    assert result.onnx_export["files"] == ["model.onnx"]
    assert len(held) >= 3  # the Trainer, the model it trained, and the one the export loaded
    assert alive_at_fusion == [[]]


def test_release_freed_memory_runs_where_malloc_trim_exists_and_is_harmless_elsewhere():
    from sentscore.training.callbacks import ReleaseFreedMemory

    release = ReleaseFreedMemory()
    release.release()  # must not raise on this platform
    release._trim = None
    release.release()


def test_default_learning_rate_follows_the_encoder_width(tiny_model_dir, tmp_path):
    from types import SimpleNamespace

    from sentscore.training.surgery import default_learning_rate

    def width(size):
        return SimpleNamespace(config=SimpleNamespace(hidden_size=size))

    assert default_learning_rate(width(384)) == 1e-4  # MiniLM
    assert default_learning_rate(width(768)) == 5e-5  # BERT-base
    assert default_learning_rate(width(1024)) == 5e-5
    data = write_csv(tmp_path / "d.csv", synthetic_rows(4))
    config = TrainConfig(
        model_name=str(tiny_model_dir), train_file=str(data), output_dir=str(tmp_path / "out"), num_train_epochs=1
    )
    train(config, show_progress=False)
    saved = json.loads((tmp_path / "out" / "sentscore.json").read_text())
    assert saved["config"]["learning_rate"] == 1e-4  # the rate used is recorded, not "None"
    assert config.learning_rate is None  # the caller's config is left as it was


def test_bf16_by_default_only_on_a_cpu_that_multiplies_bf16_natively(monkeypatch):
    from sentscore.training import runtime as training

    config = TrainConfig()
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: True)
    assert training.bf16_by_default("cpu", config) is True
    assert training.bf16_by_default("cuda", config) is False  # GPUs keep fp32 unless asked
    assert training.bf16_by_default("cpu", TrainConfig(fp16=True)) is False
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: False)
    assert training.bf16_by_default("cpu", config) is False  # emulated bf16 is slower than fp32


def test_bf16_on_cpu_limits_onednns_primitive_cache_unless_already_set(monkeypatch):
    from sentscore.training import runtime as training

    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(training, "fix_malloc_mmap_threshold", lambda: None)  # not in the test's own process
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "")  # so that monkeypatch restores it afterwards
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY")
    assert training.with_resolved_precision(TrainConfig(), "cpu").bf16 is True
    training.tune_process_for_training(TrainConfig(device="cpu"))  # what the CLI does before training
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == str(training.ONEDNN_PRIMITIVE_CACHE_CAPACITY)


MMAP_PROBE = """
import ctypes, sys
from sentscore.training import runtime as training

class MallInfo2(ctypes.Structure):
    names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    _fields_ = [(name, ctypes.c_size_t) for name in names.split()]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "fixed":
    training.fix_malloc_mmap_threshold()
big = bytearray(24 << 20)
del big  # glibc's dynamic threshold now rises to 24 MiB
before = libc.mallinfo2().hblkhd
block = bytearray(6 << 20)
print(libc.mallinfo2().hblkhd - before >= 6 << 20)
"""


@pytest.mark.skipif(not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="needs glibc 2.33 or later")
def test_a_fixed_mmap_threshold_gives_large_blocks_their_own_mapping_after_larger_ones_were_freed():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}

    def mapped(mode: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", MMAP_PROBE, mode], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()

    assert mapped("dynamic") == "False"  # glibc's default: the 6 MiB block comes from the fragmenting heap
    assert mapped("fixed") == "True"


def test_bf16_asked_for_on_a_cpu_without_it_is_warned_about(monkeypatch, caplog):
    from sentscore.training import runtime as training

    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "1024")  # a user's own setting is kept
    with caplog.at_level("WARNING", logger="sentscore.training.runtime"):
        assert training.with_resolved_precision(TrainConfig(bf16=True), "cpu").bf16 is True
        assert training.with_resolved_precision(TrainConfig(bf16=False), "cpu").bf16 is False
        assert training.with_resolved_precision(TrainConfig(), "cpu").bf16 is False
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "bf16 was asked for, but this CPU has no native bf16 instructions: training will be much slower than "
        "in fp32. Set bf16 to false (or leave it unset) to train in fp32."
    ]
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "1024"


def test_bf16_training_records_it_and_reports_the_fp32_models_metrics(tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    config = config_with_validation_file(
        tiny_model_dir,
        tmp_path,
        synthetic_rows(4, seed=1),
        synthetic_rows(3, seed=2),
        num_train_epochs=1,
        learning_rate=1e-2,
        bf16=True,
        objective="classification",  # whose loss is the plain cross-entropy computed below
        calibrate=False,  # the recorded loss is the model's as trained; calibration would change the saved one
    )
    result = train(config, show_progress=False)
    saved = json.loads((tmp_path / "out" / "sentscore.json").read_text())
    assert saved["config"]["bf16"] is True
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "out").eval()
    assert model.dtype == torch.float32  # the weights stay fp32
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "out")
    rows = synthetic_rows(3, seed=2)
    batch = tokenizer([text for text, _ in rows], padding=True, return_tensors="pt")
    labels = torch.tensor([score - 1 for _, score in rows])
    with torch.inference_mode():
        fp32_loss = float(torch.nn.functional.cross_entropy(model(**batch).logits, labels))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16_loss = float(torch.nn.functional.cross_entropy(model(**batch).logits.float(), labels))
    assert abs(bf16_loss - fp32_loss) > 2e-6  # else this test could not tell them apart
    # The final metrics come from the model predict will use, in fp32, not from bf16 autocast.
    assert result.metrics["loss"] == pytest.approx(fp32_loss, abs=5e-7)


def test_the_bf16_default_is_resolved_and_recorded(tiny_model_dir, tmp_path, monkeypatch):
    from sentscore.training import runtime as training

    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: False)
    data = write_csv(tmp_path / "d.csv", synthetic_rows(4))
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=str(data),
        output_dir=str(tmp_path / "out"),
        num_train_epochs=1,
        device="cpu",
    )
    train(config, show_progress=False)
    saved = json.loads((tmp_path / "out" / "sentscore.json").read_text())
    assert saved["config"]["bf16"] is False  # what was used, not "None"
    assert config.bf16 is None


def test_small_training_sets_get_enough_epochs_for_a_few_hundred_steps(tiny_model_dir, tmp_path, monkeypatch):
    from sentscore.training import examples as training

    assert training.default_epochs(6835, 16) == 3  # SST-5's training split: 428 steps an epoch
    assert training.default_epochs(256, 16) == 19  # 64 sentences per level, less the validation share
    assert training.default_epochs(10, 16) == 30  # capped
    monkeypatch.setattr(training, "MIN_DEFAULT_STEPS", 5)  # few steps, so that the test trains for seconds
    data = write_csv(tmp_path / "d.csv", synthetic_rows(2))
    config = TrainConfig(  # contrastive_pairs set: fine-tuning, not the few-label path (tests/test_few_labels.py)
        model_name=str(tiny_model_dir), train_file=str(data), output_dir=str(tmp_path / "o"), contrastive_pairs=0
    )
    result = train(TrainConfig(**{**config.to_dict(), "max_length": 8}), show_progress=False)
    assert result.config.num_train_epochs == 5 and len(result.epochs) == 5  # 8 sentences: one step an epoch
    assert config.num_train_epochs is None


def test_texts_longer_than_max_length_are_counted_in_metrics_and_card(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    rows = [
        (text + " and the rest of the evening" * (i % 2), score) for i, (text, score) in enumerate(synthetic_rows(4))
    ]
    data = write_csv(tmp_path / "d.csv", rows)
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=str(data),
        output_dir=str(tmp_path / "m"),
        num_train_epochs=1,
        max_length=10,
    )
    train(config, show_progress=False)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    expected = sum(len(tokenizer(text)["input_ids"]) > 10 for text, _ in rows)
    assert 0 < expected < len(rows)  # the test means something only if some are cut and some not
    long = json.loads((tmp_path / "m" / "metrics.json").read_text())["long_texts"]
    assert long["max_length"] == 10 and long["train"] + long["validation"] == expected
    assert (
        f"{long['train']} training and {long['validation']} validation texts were longer"
        in (tmp_path / "m" / "README.md").read_text()
    )


@pytest.mark.parametrize("bf16", [False, True])
def test_the_kept_epochs_validation_is_reused_as_scoring_it_again_would_give_it(tiny_model_dir, tmp_path, bf16):
    # Calibration and the final metrics take the kept model's validation outputs from the validation that chose
    # it instead of scoring the validation set again: that is only right if the two are the same, bit for bit.
    trainers = []

    def keep(trainer):
        trainers.append(trainer)
        return trainer

    config = config_with_validation_file(
        tiny_model_dir,
        tmp_path,
        synthetic_rows(8, seed=1),
        synthetic_rows(5, seed=2),
        num_train_epochs=3,
        learning_rate=1e-2,
        bf16=bf16,
        calibrate=False,  # a temperature would be folded into the saved model's weights, changing its outputs
    )
    result = train(config, show_progress=False, prepare=keep)
    (trainer,) = trainers
    kept_step = next(e["step"] for e in result.epochs if e["kept"])
    assert set(trainer.validations) == {kept_step, result.epochs[-1]["step"]}  # the best and the latest, no more
    kept = trainer.kept_validation()
    assert kept is trainer.validations[kept_step]
    again = trainer.predict(trainer.eval_dataset)
    np.testing.assert_array_equal(kept.predictions, again.predictions)
    np.testing.assert_array_equal(kept.label_ids, again.label_ids)
    assert kept.metrics["eval_loss"] == pytest.approx(again.metrics["test_loss"], abs=1e-7)
    trainer.validations.clear()  # as after a resumed run: the kept epoch was validated by another process
    assert trainer.kept_validation() is None
