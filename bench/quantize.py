"""Which int8 recipe? Speed, dev accuracy and agreement with fp32 of the dynamic-quantization variants.

    .venv/bin/python -m bench.quantize [--model bench/results/model]

Quantizes the model's `model.onnx` (written by `sentscore export`) in a scratch copy, three ways: what
`sentscore export --quantize int8` does (the MatMuls and the fused attention, per-channel weights; FFN output
layers, classifier and pooler fp32); the same with the FFN output layers int8 too; and the MatMuls only
(attention fp32 too).
Scores the dev set with each and writes bench/results/quantize.json (rendered by `python -m bench.report`).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .common import RESULTS, sst5_or_examples, write_result

#: The operators `sentscore.export.quantize_int8` quantizes: the MatMuls and the fused attention.
EXPORT_OP_TYPES = ("MatMul", "Gemm", "Attention")


def variants() -> dict[str, Callable[[Path, Path], None]]:
    """name -> a function quantizing (source, target); the first is exactly what export does."""
    from sentscore.export import quantize_int8

    return {
        "sentscore export (FFN output layers fp32)": quantize_int8,
        "every MatMul + attention int8": partial(quantize_variant, ffn_outputs_fp32=False, op_types=EXPORT_OP_TYPES),
        "MatMul only (attention and FFN outputs fp32)": partial(
            quantize_variant, ffn_outputs_fp32=True, op_types=("MatMul", "Gemm")
        ),
    }


def quantize_variant(source: Path, target: Path, ffn_outputs_fp32: bool, op_types: Sequence[str]) -> None:
    """Dynamic int8 with export's options (per-channel weights, head and pooler fp32), but the FFN output
    projections kept fp32 only when ``ffn_outputs_fp32``, and only the operators ``op_types`` quantized."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from sentscore.export import ffn_output_nodes, head_nodes

    graph = onnx.load(str(source), load_external_data=False).graph
    keep_fp32 = head_nodes(graph) + (ffn_output_nodes(graph) if ffn_outputs_fp32 else [])
    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=keep_fp32,
        op_types_to_quantize=list(op_types),
        # fused nodes (com.microsoft domain) defeat shape inference; their outputs are fp32
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def score(folder: Path, onnx_file: str, texts: list[str]) -> tuple[np.ndarray, float]:
    from sentscore import Scorer

    scorer = Scorer.load(folder, backend="onnx", onnx_file=onnx_file)
    scorer.predict_proba(texts[:64])  # warm-up
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        probs = scorer.predict_proba(texts)
        best = min(best, time.perf_counter() - started)
    labels = np.asarray(scorer.scale.labels)[probs.argmax(1)]
    return labels, len(texts) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(RESULTS / "model"), help="Model directory with model.onnx.")
    args = parser.parse_args()
    import pandas as pd

    data = sst5_or_examples("dev")
    frame = pd.read_csv(data)
    texts, gold = frame["sentence"].astype(str).tolist(), frame["score"].astype(str).to_numpy()
    scratch = Path(tempfile.mkdtemp(prefix="sentscore-quantize-"))
    folder = scratch / "model"
    shutil.copytree(args.model, folder, ignore=shutil.ignore_patterns("*.int8.onnx"))
    fp32_labels, fp32_rate = score(folder, "model.onnx", texts)
    results: dict[str, Any] = {
        "data": data.name,
        "fp32": {"sentences_per_s": fp32_rate, "accuracy": float(np.mean(fp32_labels == gold))},
        "variants": {},
    }
    for index, (name, quantize) in enumerate(variants().items()):
        target = folder / f"model.variant{index}.onnx"
        quantize(folder / "model.onnx", target)
        labels, rate = score(folder, target.name, texts)
        results["variants"][name] = {
            "sentences_per_s": rate,
            "accuracy": float(np.mean(labels == gold)),
            "agreement_with_fp32": float(np.mean(labels == fp32_labels)),
        }
        print(f"[quantize] {name}: {results['variants'][name]}", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    path = write_result("quantize", results)
    print(f"[quantize] wrote {path}; render with: python -m bench.report")


if __name__ == "__main__":
    main()
