"""Export a trained model to ONNX (dynamic batch and sequence axes), optionally quantized to int8, with a parity
check against PyTorch made the way predict scores."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import atomic
from ..errors import SentscoreError
from ..model.folder import (
    ONNX_DATA_FILE,
    ONNX_FILE,
    ONNX_INT8_FILE,
    ONNX_RUN_ALONE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    ModelFolder,
)
from ..model.objectives import objective_from_record
from .backends import (
    DEFAULT_BATCH_SIZE,
    INPUT_NAMES,
    Runner,
    load_tokenizer,
    pad,
    run_in_batches,
)
from .openvino_backend import openvino_is_faster, openvino_scoring

logger = logging.getLogger(__name__)

QUANTIZATIONS = ("int8",)
PARITY_SENTENCES = (
    "The food was wonderful and the staff were friendly.",
    "Terrible.",
    "It is fine, I suppose, though the battery life could be better and the screen is a little dim in sunlight.",
)


@dataclass
class ExportResult:
    path: Path
    max_abs_logit_diff: float
    int8_path: Path | None = None
    int8_agreement: float | None = None


def export_onnx(
    model_dir: str | Path,
    quantize: str | None = None,
    check_sentences: Sequence[str] | None = None,
) -> ExportResult:
    """Write ``model.onnx`` (and ``model.int8.onnx`` with ``quantize="int8"``) into ``model_dir``, replacing
    the exports there (exports are made from the folder's weights alone, so nothing else is lost).

    The fp32 graph is exported by ``torch.onnx`` and fused by ONNX Runtime's transformer optimizer; its outputs
    are checked against PyTorch. The int8 model quantizes the weights of the encoder's matrix products per
    channel and keeps the FFN output projections and the head in fp32; its predictions are compared with
    fp32's on ``check_sentences`` (or a few built-in ones), scored in the batches predict uses.
    """
    folder = ModelFolder(model_dir).check()
    if quantize not in (None, *QUANTIZATIONS):
        raise SentscoreError(f"Unknown quantization '{quantize}'", hint="Use --quantize int8, or leave it out.")
    target = folder.file(ONNX_FILE)
    folder.verify(WEIGHTS_FILE)
    encodings = encoded(folder, list(check_sentences or PARITY_SENTENCES))  # tokenized once for every check
    # the graph and its weights, renamed into place together once checked (the weights first)
    with tempfile.TemporaryDirectory() as tmp, atomic.replacing_with_companions(target, ONNX_DATA_FILE) as fused:
        raw = Path(tmp) / "raw.onnx"
        reference, encoder = _torch_export(folder, raw, encodings)
        fp32, diff = _fused(raw, fused, encoder, lambda path: outputs_of(onnx_run(path), encodings), reference)
    folder.record_checksum(target.name)
    # debug, not info: the CLI prints the same as its summary line, and the result carries it for Python callers
    logger.debug("ONNX fp32 model written to %s (max |output difference| vs PyTorch: %.2e)", target, diff)
    result = ExportResult(target, diff)
    if openvino_is_faster():  # predict will run it on OpenVINO: compiled now, the first predict finds it cached
        runner = openvino_scoring(target, None, DEFAULT_BATCH_SIZE, folder.info().max_length)
        bf16 = float(np.abs(outputs_of(runner, encodings) - fp32).max())
        logger.debug("Compiled for OpenVINO in bf16 (max |output difference| vs fp32: %.2e)", bf16)
    if quantize:
        int8 = folder.file(ONNX_INT8_FILE)
        with atomic.replacing(int8) as quantized_file:
            quantize_int8(target, quantized_file)
        folder.record_checksum(int8.name)
        info = folder.info()
        objective = objective_from_record(info.objective, len(info.labels), info.objective_params)
        quantized = outputs_of(onnx_run(int8), encodings)
        agree = objective.probabilities(quantized).argmax(1) == objective.probabilities(fp32).argmax(1)
        result.int8_path, result.int8_agreement = int8, float(np.mean(agree))
        logger.debug("ONNX int8 model written to %s (agrees with fp32 on %.1f%%)", int8, 100 * result.int8_agreement)
    return result


def encoded(folder: ModelFolder, sentences: Sequence[str]) -> list[Any]:
    """``sentences`` tokenized as predict tokenizes them, with the folder's tokenizer."""
    tokenizer = load_tokenizer(folder.file(TOKENIZER_FILE), folder.info().max_length)
    return tokenizer.encode_batch(list(sentences))


def outputs_of(run: Runner, encodings: list[Any]) -> np.ndarray:
    """The head's outputs for ``encodings``, batched exactly as predict batches them."""
    return run_in_batches(run, encodings, DEFAULT_BATCH_SIZE)


def onnx_run(onnx_path: Path) -> Runner:
    """The ONNX graph ``onnx_path`` on ONNX Runtime, run as predict runs that file."""
    from .backends import onnx_scoring

    return onnx_scoring(onnx_path, one_sentence_at_a_time=onnx_path.name in ONNX_RUN_ALONE)


def onnx_outputs(folder: ModelFolder, onnx_path: Path, sentences: Sequence[str]) -> np.ndarray:
    """The outputs of the ONNX graph ``onnx_path`` for ``sentences``, as predict computes them."""
    return outputs_of(onnx_run(onnx_path), encoded(folder, sentences))


def _torch_export(folder: ModelFolder, path: Path, encodings: list[Any]) -> tuple[np.ndarray, Any]:
    """The folder's PyTorch model exported to ``path``; its outputs for ``encodings`` (what the export is checked
    against) and its encoder's config. The model is loaded here and freed on return, so that the fusion and the
    checks after it do not hold a second copy of the weights."""
    import inspect
    import warnings

    import torch

    from ..model.loading import load_trained
    from .backends import torch_runner

    # Eager attention traces into plain ONNX operators that ONNX Runtime's optimizer knows how to fuse.
    model = load_trained(folder.path, attn_implementation="eager").eval()
    reference = outputs_of(torch_runner(model), encodings)
    tokenizer = load_tokenizer(folder.file(TOKENIZER_FILE), folder.info().max_length)
    accepted = set(inspect.signature(model.forward).parameters)
    names = [n for n in INPUT_NAMES if n in accepted]  # DistilBERT-style models take no token_type_ids
    sample = {n: torch.from_numpy(v) for n, v in pad(tokenizer.encode_batch(list(PARITY_SENTENCES[:2]))).items()}
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow are expected here
        torch.onnx.export(
            model,
            (),
            str(path),
            kwargs={n: sample[n] for n in names},
            input_names=names,
            output_names=["logits"],
            dynamic_axes={**axes, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    # the encoder's shape, under any head (an ensemble's members share one)
    return reference, getattr(model, "encoder_config", None) or model.base_model.config


#: The most a fused graph's outputs may stray from PyTorch's before it is fused again, the slower way.
FUSION_TOLERANCE = 1e-3


def _fused(
    raw: Path, target: Path, config: Any, outputs: Callable[[Path], np.ndarray], reference: np.ndarray
) -> tuple[np.ndarray, float]:
    """Fuse ``raw`` into ``target``, first without symbolic shape inference, which the optimizer's fusions use
    only to check the shapes of a BERT-family graph's residual sums (half the time, the same graph: decisions.md);
    where those outputs stray from PyTorch's ``reference`` by over :data:`FUSION_TOLERANCE`, fuse again with it.
    Returns the fused graph's outputs and their largest difference from ``reference``."""
    for shape_inference in (False, True):
        _optimize(raw, target, config, shape_inference)
        fused = outputs(target)
        diff = float(np.abs(fused - reference).max())
        if diff <= FUSION_TOLERANCE or shape_inference:
            break
        logger.debug("The fused graph strays from PyTorch by %.2e; fused again with shape inference", diff)
    return fused, diff


def _optimize(source: Path, target: Path, config: Any, shape_inference: bool = True) -> None:
    """Fuse attention, LayerNorm and GELU with ONNX Runtime's transformer optimizer (fp32 stays fp32)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_shape_inference = shape_inference
    # without shape inference (by choice), the SkipLayerNorm fusion warns that it is "disabled or failed"
    with _without_message([] if shape_inference else SKIP_LAYER_NORM_LOGGERS, "symbolic shape inference disabled"):
        optimized = optimize_model(
            str(source),
            model_type="bert",
            num_heads=config.num_attention_heads,
            hidden_size=config.hidden_size,
            optimization_options=options,
        )
    # The weights as external data beside the graph (``<target>.data``): ONNX Runtime maps them into memory
    # instead of parsing them out of the graph, so a session loads in a fraction of the time (docs/decisions.md).
    optimized.save_model_to_file(str(target), use_external_data_format=True)


#: Name fragments of the FFN output projections in exported graphs (BERT, RoBERTa, ELECTRA: ``output/dense``
#: outside attention; DistilBERT: ``ffn/lin2``).
FFN_OUTPUT_NAMES = ("/output/dense/", "/ffn/lin2/")
#: Name fragments of the nodes that make up the head and the pooler.
HEAD_NAMES = ("classifier", "pooler", "/head/")


def ffn_output_nodes(graph: Any) -> list[str]:
    """Names of the nodes of ``graph`` that compute the encoder layers' FFN output projections."""
    return [
        n.name
        for n in graph.node
        if any(part in n.name for part in FFN_OUTPUT_NAMES) and "attention" not in n.name.lower()
    ]


def head_nodes(graph: Any) -> list[str]:
    """Names of the nodes of ``graph`` in the head and the pooler."""
    return [n.name for n in graph.node if any(part in n.name.lower() for part in HEAD_NAMES)]


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8: weights quantized per output channel, activations at run time, fused attention included.
    The head and pooler stay fp32 because their few weights carry the decision, and so do the FFN output
    projections, whose inputs (GELU outputs over the 4x wider hidden layer) quantize worst. Activations are
    quantized over the whole tensor a run is given, so the scorer runs this graph one sentence at a time
    (:data:`sentscore.modelfolder.ONNX_RUN_ALONE`)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    with _without_message([None], "Please consider to run pre-processing before quantization"):
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=[*head_nodes(graph), *ffn_output_nodes(graph)],
            op_types_to_quantize=["MatMul", "Gemm", "Attention"],
            # fused nodes (com.microsoft domain) defeat shape inference; their outputs are fp32
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


#: The loggers of ONNX Runtime's SkipLayerNorm fusion: its optimizer imports the module by its bare name.
SKIP_LAYER_NORM_LOGGERS = ("fusion_skiplayernorm", "onnxruntime.transformers.fusion_skiplayernorm")


@contextlib.contextmanager
def _without_message(loggers: Sequence[str | None], start: str) -> Iterator[None]:
    """For the block only, drop the records of ``loggers`` (None: the root logger) that begin with ``start``:
    ONNX Runtime's quantizer advises its image-model pre-processing through the root logger on every call,
    which for an already optimized transformer graph is advice to ignore (shape inference fails on its fused
    nodes), and its optimizer warns of the shape inference that the export leaves out on purpose."""
    chosen = [logging.getLogger(name) for name in loggers]

    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(start)

    for logger in chosen:
        logger.addFilter(keep)
    try:
        yield
    finally:
        for logger in chosen:
            logger.removeFilter(keep)
