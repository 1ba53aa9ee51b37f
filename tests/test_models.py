import pytest

from sentscore.data import ScoreScale
from sentscore.errors import SentscoreError
from sentscore.model.loading import load_for_training

SCALE = ScoreScale(("1", "2", "3", "4", "5"))


def test_checkpoint_dropout_is_kept_unless_one_is_given(tiny_model_dir):
    _, kept = load_for_training(str(tiny_model_dir), SCALE)
    assert kept.config.hidden_dropout_prob == kept.config.attention_probs_dropout_prob == 0.1
    _, hidden = load_for_training(str(tiny_model_dir), SCALE, dropout=0.0)
    assert (hidden.config.hidden_dropout_prob, hidden.config.attention_probs_dropout_prob) == (0.0, 0.1)


def test_a_max_length_past_the_encoders_positions_is_refused_before_training(tiny_model_dir):
    from transformers import BertConfig, MPNetConfig, RobertaConfig

    from sentscore.model.loading import tokens_read

    load_for_training(str(tiny_model_dir), SCALE, max_length=128)  # the tiny BERT has 128 positions
    for pooling in ("cls", "mean"):
        with pytest.raises(SentscoreError, match="max_length 129 is more than .* reads: 128 tokens at most") as info:
            load_for_training(str(tiny_model_dir), SCALE, pooling=pooling, max_length=129)
        assert "--max-length" in info.value.hint
    # RoBERTa's and MPNet's positions start after the padding id: 514 positions read 512 tokens
    assert tokens_read(BertConfig()) == 512
    assert tokens_read(RobertaConfig(max_position_embeddings=514, pad_token_id=1)) == 512
    assert tokens_read(MPNetConfig(max_position_embeddings=514, pad_token_id=1)) == 512


def test_head_is_labelled_after_the_scale(tiny_model_dir):
    _, model = load_for_training(str(tiny_model_dir), SCALE)
    assert model.config.id2label == {i: str(i + 1) for i in range(5)}
    assert model.num_labels == 5


def test_only_encoder_weights_missing_from_the_checkpoint_are_warned_about(tiny_model_dir, tmp_path, caplog):
    import logging

    from transformers import AutoTokenizer, BertModel

    with caplog.at_level(logging.DEBUG, logger="sentscore.model.loading"):
        load_for_training(str(tiny_model_dir), SCALE)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("classifier.weight" in r.getMessage() for r in caplog.records)

    no_pooler = tmp_path / "no-pooler"
    encoder = BertModel.from_pretrained(str(tiny_model_dir), add_pooling_layer=False)
    encoder.save_pretrained(no_pooler)
    AutoTokenizer.from_pretrained(str(tiny_model_dir)).save_pretrained(no_pooler)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="sentscore.model.loading"):
        load_for_training(str(no_pooler), SCALE)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "2 encoder weights" in warnings[0] and "bert.pooler.dense.weight" in warnings[0]


def test_loading_a_local_model_leaves_progress_bars_as_they_were(tiny_model_dir):
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()
    load_for_training(str(tiny_model_dir), SCALE)
    assert hf_logging.is_progress_bar_enabled()


def test_a_trained_model_can_be_fine_tuned_on_another_scale(trained_tiny_dir, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="sentscore.model.loading"):
        _, model = load_for_training(str(trained_tiny_dir), ScoreScale(("bad", "ok", "good")))
    assert model.num_labels == 3 and model.classifier.out_features == 3
    assert model.config.id2label == {0: "bad", 1: "ok", 2: "good"}
    assert any("did not fit 3 labels" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sentscore.model.loading"):
        _, same = load_for_training(str(trained_tiny_dir), SCALE)
    assert same.num_labels == 5 and not caplog.records


def test_a_folder_without_tokenizer_files_is_refused(tiny_model_dir, tmp_path):
    weights_only = tmp_path / "weights-only"
    weights_only.mkdir()
    for name in ("config.json", "model.safetensors"):
        (weights_only / name).write_bytes((tiny_model_dir / name).read_bytes())
    with pytest.raises(SentscoreError, match=r"no usable tokenizer: it knows \d+ tokens, the model 30522") as info:
        load_for_training(str(weights_only), SCALE)
    assert "save_pretrained" in info.value.hint


def test_the_pooler_of_an_encoder_trained_mean_pooled_starts_as_the_identity(tiny_model_dir, tmp_path):
    import json
    import shutil

    import torch

    mean_pooled = tmp_path / "sentence-encoder"
    shutil.copytree(tiny_model_dir, mean_pooled)
    (mean_pooled / "1_Pooling").mkdir()
    (mean_pooled / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    _, stock = load_for_training(str(tiny_model_dir), SCALE)
    _, reset = load_for_training(str(mean_pooled), SCALE)
    width = stock.config.hidden_size
    assert not torch.equal(stock.bert.pooler.dense.weight, torch.eye(width))  # the checkpoint's own pooler
    assert torch.equal(reset.bert.pooler.dense.weight, torch.eye(width))
    assert not reset.bert.pooler.dense.bias.any()
    assert torch.equal(reset.bert.encoder.layer[0].output.dense.weight, stock.bert.encoder.layer[0].output.dense.weight)
