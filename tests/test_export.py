import numpy as np
import pytest

from sentscore import ModelFolder, Scorer
from sentscore.scoring.export import export_onnx

from .conftest import synthetic_rows


@pytest.fixture(scope="module")
def exported_dir(trained_tiny_dir, tmp_path_factory):
    import shutil

    copy = tmp_path_factory.mktemp("exported") / "model"
    shutil.copytree(trained_tiny_dir, copy)
    sentences = [text for text, _ in synthetic_rows(20, seed=3)]
    result = export_onnx(copy, quantize="int8", check_sentences=sentences)
    return copy, result, sentences


def test_onnx_logits_match_pytorch(exported_dir):
    model_dir, result, sentences = exported_dir
    assert result.max_abs_logit_diff < 1e-4
    torch_probs = Scorer.load(model_dir, backend="torch").predict_proba(sentences)
    onnx_probs = Scorer.load(model_dir, backend="onnx", onnx_file="model.onnx").predict_proba(sentences)
    np.testing.assert_allclose(onnx_probs, torch_probs, atol=1e-4)


def test_int8_keeps_the_ffn_outputs_and_head_fp32_and_quantizes_the_rest(exported_dir):
    import onnx

    from sentscore.scoring.export import ffn_output_nodes

    model_dir, _, _ = exported_dir
    fp32 = onnx.load(str(model_dir / "model.onnx")).graph
    kept = ffn_output_nodes(fp32)
    assert len(kept) == 2  # one per encoder layer of the tiny model
    int8 = onnx.load(str(model_dir / "model.int8.onnx")).graph
    nodes = {n.name: n.op_type for n in int8.node}
    assert all(nodes[name] == "MatMul" for name in kept)  # left as fp32 MatMul
    assert any(n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for n in int8.node)
    int8_weights = [t for t in int8.initializer if t.data_type == onnx.TensorProto.INT8]
    assert int8_weights


def test_onnx_handles_any_batch_and_sequence_length(exported_dir):
    model_dir, _, _ = exported_dir
    scorer = Scorer.load(model_dir, backend="onnx", onnx_file="model.onnx", batch_size=3)
    texts = ["x", "a much longer sentence " * 20, "medium length sentence here", "y", "z"]
    assert scorer.predict_proba(texts).shape == (5, 5)


def test_int8_agrees_with_fp32_on_nearly_all_sentences(exported_dir):
    model_dir, result, sentences = exported_dir
    assert result.int8_agreement >= 0.95
    int8 = Scorer.load(model_dir, backend="onnx").predict_proba(sentences)  # auto-picks int8
    fp32 = Scorer.load(model_dir, backend="onnx", onnx_file="model.onnx").predict_proba(sentences)
    assert np.mean(int8.argmax(1) == fp32.argmax(1)) >= 0.95


def test_the_export_checks_int8_on_batches_like_those_the_scorer_scores(exported_dir):
    from sentscore.model.folder import ModelFolder
    from sentscore.scoring.export import onnx_outputs

    model_dir, _, sentences = exported_dir
    texts = [*sentences, "short", "a much longer sentence about the food " * 30]  # more than one batch of 64
    # the export checks each sentence's first window, so the scorer reads them so too
    scorer = Scorer.load(model_dir, backend="onnx", long_texts="truncate")
    checked = scorer.objective.probabilities(onnx_outputs(ModelFolder(model_dir), model_dir / "model.int8.onnx", texts))
    scored = scorer.predict_proba(texts)
    np.testing.assert_allclose(checked, scored, atol=1e-6)


def test_auto_backend_prefers_the_export(exported_dir, trained_tiny_dir, tmp_path):
    import shutil

    from sentscore.scoring.openvino_backend import openvino_is_faster

    model_dir, _, _ = exported_dir
    assert Scorer.load(model_dir).scored_with == "model.int8.onnx"  # int8, asked for, first: on ONNX Runtime
    assert Scorer.load(model_dir).backend == "onnx"
    assert Scorer.load(trained_tiny_dir).scored_with == "model.onnx"  # training exported it
    assert Scorer.load(trained_tiny_dir).backend == ("openvino" if openvino_is_faster() else "onnx")
    unexported = shutil.copytree(trained_tiny_dir, tmp_path / "m", ignore=shutil.ignore_patterns("*.onnx"))
    assert Scorer.load(unexported).backend == "torch"


def test_exporting_again_replaces_the_exports_and_their_checksums(exported_dir):
    model_dir, _, _ = exported_dir
    (model_dir / "model.onnx").write_bytes(b"not a graph")  # an export gone bad is made again
    export_onnx(model_dir)
    folder = ModelFolder(model_dir)
    assert folder.verify("model.onnx") == model_dir / "model.onnx"
    assert Scorer.load(model_dir, backend="onnx", onnx_file="model.onnx").predict(["fine"])


#: How far a sentence's probabilities may move with its batch, per backend: the int8 export runs each sentence
#: alone (exactly the same numbers); fp32 graphs only see the other sentences' padding, which the attention mask
#: hides up to float rounding.
BATCH_TOLERANCE = {"model.int8.onnx": 0.0, "model.onnx": 1e-5, "torch": 1e-5}


@pytest.mark.parametrize("backend", list(BATCH_TOLERANCE))
def test_a_sentences_score_does_not_depend_on_its_batch(exported_dir, backend):
    import random

    model_dir, _, sentences = exported_dir
    texts = [*sentences, "the food was great and lovely " * 3, "awful"]
    if backend == "torch":
        scorer = Scorer.load(model_dir, backend="torch")
    else:
        scorer = Scorer.load(model_dir, backend="onnx", onnx_file=backend, num_threads=2)
    alone = np.vstack([scorer.predict_proba([text]) for text in texts])
    rng = random.Random(0)
    for batch_size in (2, 7, 64):
        scorer.batch_size = batch_size
        shuffled = rng.sample(range(len(texts)), len(texts))
        together = scorer.predict_proba([texts[i] for i in shuffled])[np.argsort(shuffled)]
        assert (together.argmax(1) == alone.argmax(1)).all()
        np.testing.assert_allclose(together, alone, atol=BATCH_TOLERANCE[backend], rtol=0)


def test_every_file_sentscore_writes_is_readable_like_any_file(exported_dir, tmp_path):
    """Training's folder, the export and a scored file get the umask's permissions (0644 and 0755 under umask
    022), not the private 0600/0700 of temporary files, so that a shared folder or a container can read them."""
    import os
    import stat

    folder, _, sentences = exported_dir
    scored = tmp_path / "scored.csv"
    (tmp_path / "in.txt").write_text("\n".join(sentences[:3]) + "\n")
    Scorer.load(folder).score_file(tmp_path / "in.txt", scored, show_progress=False)
    mask = os.umask(0)
    os.umask(mask)
    paths = [folder, *folder.rglob("*"), scored]
    wrong = {
        str(p): oct(stat.S_IMODE(p.stat().st_mode))
        for p in paths
        if stat.S_IMODE(p.stat().st_mode) != (0o777 if p.is_dir() else 0o666) & ~mask
    }
    assert {p.suffix for p in paths} >= {".onnx", ".safetensors", ".json", ".md", ".png", ".csv"}
    assert wrong == {}


def test_fusing_without_shape_inference_makes_the_graph_fusing_with_it_makes(exported_dir, tmp_path, caplog):
    import collections

    import onnx
    import onnxruntime as ort

    from sentscore.scoring import export

    model_dir, _, sentences = exported_dir
    folder = ModelFolder(model_dir)
    raw = tmp_path / "raw.onnx"
    _, config = export._torch_export(folder, raw, export.encoded(folder, sentences))
    graphs = {}
    for shape_inference in (False, True):
        with caplog.at_level("WARNING"):
            export._optimize(raw, tmp_path / f"{shape_inference}.onnx", config, shape_inference)
        graphs[shape_inference] = onnx.load(str(tmp_path / f"{shape_inference}.onnx")).graph
    # leaving shape inference out is the export's choice: the optimizer's warning of it is not passed on
    assert not [(r.name, r.getMessage()) for r in caplog.records if "shape inference" in r.getMessage()]
    ops = {key: collections.Counter(node.op_type for node in graph.node) for key, graph in graphs.items()}
    assert ops[False] == ops[True]
    assert ops[False]["Attention"] == config.num_hidden_layers  # fused, not left as the plain operators
    feed = {"input_ids": np.array([[2, 7, 9, 3]]), "attention_mask": np.ones((1, 4), dtype=np.int64)}
    outputs = {}
    for key in graphs:
        session = ort.InferenceSession(str(tmp_path / f"{key}.onnx"), providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        full = {**feed, "token_type_ids": np.zeros((1, 4), dtype=np.int64)}
        outputs[key] = session.run(None, {n: v for n, v in full.items() if n in names})[0]
    np.testing.assert_array_equal(outputs[False], outputs[True])


def test_a_fused_graph_that_strays_from_pytorch_is_fused_again_with_shape_inference(exported_dir, monkeypatch, caplog):
    from sentscore.scoring import export

    model_dir, _, sentences = exported_dir
    monkeypatch.setattr(export, "FUSION_TOLERANCE", -1.0)  # every fused graph counts as straying
    with caplog.at_level("DEBUG", logger="sentscore.scoring.export"):
        result = export_onnx(model_dir, check_sentences=sentences)
    assert any("fused again with shape inference" in r.getMessage() for r in caplog.records)
    assert result.max_abs_logit_diff < 1e-4


def test_the_fp32_exports_weights_lie_beside_its_graph_and_are_checked_as_its_own(exported_dir, tmp_path):
    """ONNX Runtime maps external data into memory instead of parsing it out of the graph (a session loads in a
    fraction of the time): the graph names model.onnx.data, and an edited or missing weights file is refused by
    name, never scored."""
    import shutil

    import onnx

    from sentscore import SentscoreError

    model_dir, _, _ = exported_dir
    graph = onnx.load(str(model_dir / "model.onnx"), load_external_data=False).graph
    named = {entry.value for tensor in graph.initializer for entry in tensor.external_data if entry.key == "location"}
    assert named == {"model.onnx.data"}
    assert (model_dir / "model.onnx").stat().st_size * 10 < (model_dir / "model.onnx.data").stat().st_size
    copy = shutil.copytree(model_dir, tmp_path / "m")
    data = copy / "model.onnx.data"
    data.write_bytes(data.read_bytes()[:-8] + bytes(8))  # the same size, the last weights zeroed
    with pytest.raises(SentscoreError, match="model.onnx.data is not the file sentscore wrote"):
        Scorer.load(copy, backend="onnx", onnx_file="model.onnx")
    data.unlink()
    with pytest.raises(SentscoreError, match="model.onnx.data is not the file sentscore wrote: it is missing"):
        Scorer.load(copy, backend="onnx", onnx_file="model.onnx")
    # a graph that keeps its weights inside (as exports did before) replaces the pair: its checksum alone is kept
    onnx.save(onnx.load(str(model_dir / "model.onnx")), str(copy / "model.onnx"))
    ModelFolder(copy).record_checksum("model.onnx")
    assert "model.onnx.data" not in ModelFolder(copy).info().checksums
    assert Scorer.load(copy, backend="onnx", onnx_file="model.onnx").predict(["fine"])
