"""Export a trained model to ONNX (dynamic batch and sequence axes), optionally quantized to int8,
with a parity check against PyTorch."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SentscoreError
from .outputs import ONNX_FILE, ONNX_INT8_FILE, check_model_dir
from .predict import DEFAULT_BATCH_SIZE

logger = logging.getLogger(__name__)

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
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
    overwrite: bool = False,
    calibration_sentences: list[str] | None = None,
) -> ExportResult:
    """Write ``model.onnx`` (and ``model.int8.onnx`` with ``quantize="int8"``) into ``model_dir``.

    The fp32 graph is exported by ``torch.onnx`` and fused by ONNX Runtime's transformer optimizer; its
    logits are checked against PyTorch. The int8 model quantizes the weights of the encoder's matrix
    products per channel and keeps the FFN output projections and the classifier head in fp32; its
    predictions are compared with fp32 on ``calibration_sentences`` (or a few built-in ones).
    """
    model_dir = check_model_dir(model_dir)
    if quantize not in (None, "int8"):
        raise SentscoreError(f"Unknown quantization '{quantize}'", hint="Use --quantize int8, or leave it out.")
    target = model_dir / ONNX_FILE
    targets = [target] + ([model_dir / ONNX_INT8_FILE] if quantize else [])
    existing = [p.name for p in targets if p.exists()]
    if existing and not overwrite:
        raise SentscoreError(f"{model_dir} already has {', '.join(existing)}", hint="Pass --overwrite to export again.")
    model, tokenizer = _load(model_dir)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        _torch_export(model, tokenizer, raw)
        _optimize(raw, target, model.config)
    sentences = list(calibration_sentences or PARITY_SENTENCES)
    reference = _torch_logits(model, tokenizer, sentences)
    fp32 = _onnx_logits(target, tokenizer, sentences)
    diff = float(np.abs(fp32 - reference).max())
    # debug, not info: the CLI prints the same as its summary line, and the result carries it for Python callers
    logger.debug("ONNX fp32 model written to %s (max |logit difference| vs PyTorch: %.2e)", target, diff)
    result = ExportResult(target, diff)
    if quantize:
        int8 = model_dir / ONNX_INT8_FILE
        quantize_int8(target, int8)
        quantized = _onnx_logits(int8, tokenizer, sentences)
        result.int8_path = int8
        result.int8_agreement = float(np.mean(quantized.argmax(1) == fp32.argmax(1)))
        logger.debug(
            "ONNX int8 model written to %s (agrees with fp32 on %.1f%% of %d sentences)",
            int8,
            100 * result.int8_agreement,
            len(sentences),
        )
    return result


def _load(model_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from .models import quiet_transformers

    # Eager attention traces into plain ONNX operators that ONNX Runtime's optimizer knows how to fuse.
    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), attn_implementation="eager")
    return model.eval(), AutoTokenizer.from_pretrained(str(model_dir))


def _torch_export(model: Any, tokenizer: Any, path: Path) -> None:
    import warnings

    import torch

    sample = tokenizer(list(PARITY_SENTENCES[:2]), padding=True, return_tensors="pt")
    names = [n for n in INPUT_NAMES if n in sample]
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


def _optimize(source: Path, target: Path, config: Any) -> None:
    """Fuse attention, LayerNorm and GELU with ONNX Runtime's transformer optimizer (fp32 stays fp32)."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(source), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
    )
    optimized.save_model_to_file(str(target))


#: Name fragments of the FFN output projections in exported graphs (BERT, RoBERTa, ELECTRA: ``output/dense``
#: outside attention; DistilBERT: ``ffn/lin2``).
FFN_OUTPUT_NAMES = ("/output/dense/", "/ffn/lin2/")


def ffn_output_nodes(graph: Any) -> list[str]:
    """Names of the nodes of ``graph`` that compute the encoder layers' FFN output projections."""
    return [
        n.name
        for n in graph.node
        if any(part in n.name for part in FFN_OUTPUT_NAMES) and "attention" not in n.name.lower()
    ]


def quantize_int8(
    source: Path,
    target: Path,
    ffn_output_fp32: bool = True,
    extra_fp32_nodes: Sequence[str] = (),
    op_types: Sequence[str] = ("MatMul", "Gemm", "Attention"),
) -> None:
    """Dynamic int8: weights quantized per output channel, activations at run time, fused attention
    included. The classifier head and pooler stay fp32 because their few weights carry the decision, and so
    do the FFN output projections, whose inputs (GELU outputs over the 4x wider hidden layer) quantize worst.
    On SST-5 dev over three trained models (`python -m bench.quantize`, BENCHMARKS.md), keeping those fp32
    gave the same prediction as fp32 on 95.7-96.7% of sentences, against 92.6-94.6% quantizing them too; it
    costs a third of the speed-up (1.3-1.5x fp32's speed instead of 1.55-2.2x). (8-bit MatMulNBits, tried
    once, agreed on 99.5% but ran slower than fp32 on an AVX2 CPU.) ``ffn_output_fp32``,
    ``extra_fp32_nodes`` and ``op_types`` exist to measure variants."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    keep_fp32 = [n.name for n in graph.node if any(k in n.name.lower() for k in ("classifier", "pooler"))]
    if ffn_output_fp32:
        keep_fp32 += ffn_output_nodes(graph)
    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=[*keep_fp32, *extra_fp32_nodes],
        op_types_to_quantize=list(op_types),
        # fused nodes (com.microsoft domain) defeat shape inference; their outputs are fp32
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _batched_logits(
    run: Callable[[Any], np.ndarray], tokenizer: Any, sentences: list[str], framework: str
) -> np.ndarray:
    """Logits in input order, from batches of similar length and the Scorer's size: a check file of thousands
    of sentences is never padded into one huge batch, and int8 (whose activation scales are computed per
    batch at run time) is checked on batches like those it will score."""
    lengths = [len(ids) for ids in tokenizer(sentences, truncation=True)["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    logits = None
    for start in range(0, len(order), DEFAULT_BATCH_SIZE):
        positions = order[start : start + DEFAULT_BATCH_SIZE]
        batch = [sentences[i] for i in positions]
        batch_logits = run(tokenizer(batch, padding=True, truncation=True, return_tensors=framework))
        if logits is None:
            logits = np.empty((len(sentences), batch_logits.shape[1]), dtype=np.float32)
        logits[positions] = batch_logits
    return logits


def _torch_logits(model: Any, tokenizer: Any, sentences: list[str]) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return _batched_logits(lambda encoded: model(**encoded).logits.float().numpy(), tokenizer, sentences, "pt")


def _onnx_logits(path: Path, tokenizer: Any, sentences: list[str]) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(encoded: Any) -> np.ndarray:
        return session.run(["logits"], {n: encoded[n].astype(np.int64) for n in names})[0]

    return _batched_logits(run, tokenizer, sentences, "np")
