"""Which file of a model folder answers is said, and can be chosen; and what the commands print is only what a
user needs (no noise from the libraries, each thing said once)."""

from __future__ import annotations

import logging
import shutil

import pytest

from sentscore import Scorer, evaluate
from sentscore.errors import SentscoreError

from .conftest import synthetic_rows, write_csv
from .test_cli import assert_user_error, run


@pytest.fixture(scope="module")
def exported(trained_tiny_dir, tmp_path_factory):
    """A copy of the tiny model with both exports, and what a plain export printed after the int8 one."""
    model_dir = tmp_path_factory.mktemp("files") / "model"
    shutil.copytree(trained_tiny_dir, model_dir)
    quantized = run("export", model_dir, "--quantize", "int8")
    assert quantized.returncode == 0, quantized.stderr
    again = run("export", model_dir)
    assert again.returncode == 0, again.stderr
    return model_dir, quantized, again


def test_a_re_export_says_truly_which_export_scores(exported):
    _, quantized, again = exported
    assert "now use model.int8.onnx (--onnx-file model.onnx for fp32" in quantized.stdout
    # the int8 export of the earlier call stays and is still preferred: the message says so
    assert "now use model.int8.onnx (from an earlier --quantize int8)" in again.stdout
    assert "Please consider to run pre-processing" not in quantized.stdout + quantized.stderr  # ONNX Runtime's noise


def test_each_export_can_be_chosen_and_the_file_that_scored_is_named(exported, tmp_path):
    model_dir, _, _ = exported
    data = write_csv(tmp_path / "d.csv", synthetic_rows(3))
    assert evaluate(model_dir, data)["scored_with"] == "model.int8.onnx"
    assert evaluate(model_dir, data, onnx_file="model.onnx")["scored_with"] == "model.onnx"
    assert evaluate(model_dir, data, backend="torch")["scored_with"] == "model.safetensors"
    said = run("predict", model_dir, "fine", "-v", "--onnx-file", "model.onnx")
    assert said.returncode == 0 and "Scoring with model.onnx" in said.stderr
    shown = run("evaluate", model_dir, data, "--onnx-file", "model.onnx", "--worst", "0")
    assert "Scored with model.onnx" in " ".join(shown.stdout.split())
    assert_user_error(
        run("predict", model_dir, "fine", "--backend", "torch", "--onnx-file", "model.onnx"),
        "--backend torch scores with the PyTorch weights, not with model.onnx",
    )


def test_asking_for_an_export_the_folder_lacks_is_refused(trained_tiny_dir):
    with pytest.raises(SentscoreError, match=r"has no exported ONNX model \(model.int8.onnx\)"):
        Scorer.load(trained_tiny_dir, onnx_file="model.int8.onnx")  # was: PyTorch, silently


def test_the_server_names_the_file_it_scores_with(exported):
    from fastapi.testclient import TestClient

    from sentscore.serve.app import create_app

    model_dir, _, _ = exported
    with TestClient(create_app(Scorer.load(model_dir, onnx_file="model.onnx"))) as client:
        assert client.get("/v1/model").json()["scored_with"] == "model.onnx"


def test_a_semicolon_file_is_said_to_be_read_as_such_once(trained_tiny_dir, tmp_path):
    source = tmp_path / "semi.csv"
    source.write_text("id;sentence\n1;great food\n2;awful room\n")
    result = run("predict", trained_tiny_dir, "--input", source, "--output", tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    assert " ".join(result.stderr.split()).count("separated by ';'") == 1
    assert "Scored 2 rows" in result.stderr


def test_the_pooler_reset_is_no_news_at_the_default_level(caplog):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from sentscore.model.loading import reset_pooler_to_identity

    model = BertForSequenceClassification(
        BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    )
    with caplog.at_level(logging.INFO, logger="sentscore"):
        reset_pooler_to_identity(model)
    assert torch.equal(model.bert.pooler.dense.weight, torch.eye(8))
    assert "pooler" not in caplog.text
