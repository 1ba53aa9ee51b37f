"""Which int8? Speed, dev accuracy, agreement with fp32 and dependence on the batch of the int8 recipes.

    .venv/bin/python -m bench.quantize [--model bench/results/model]

Exports the model (``sentscore export --quantize int8``) in a scratch copy, then scores the dev set with:
ONNX fp32; the export's dynamic int8 as predict runs it (one sentence at a time, several at once on several
threads); the same graph run in length-sorted batches, as sentscore 0.2 did (its activation scale is computed
over the whole batch); and static int8 (QDQ, activations' scales calibrated on 512 training sentences, the same
nodes kept fp32 as the export keeps), the field's usual answer to batch dependence. Each at one thread and at
every core, best of 2; dependence on the batch: 200 dev sentences scored alone and inside 32 random others.
Writes bench/results/quantize.json (rendered by ``python -m bench.report``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import RESULTS, cpu_name, sst5_or_examples, utc_now, write_result

#: Variants: name -> ONNX file of the scratch folder (model.int8.onnx is the one predict runs one at a time).
VARIANTS = {
    "ONNX fp32": "model.onnx",
    "dynamic int8, one sentence at a time (the export, as predict runs it)": "model.int8.onnx",
    "dynamic int8, batched (sentscore 0.2)": "model.int8-batched.onnx",
    "static int8 (QDQ, calibrated)": "model.int8-static.onnx",
}
CALIBRATION_SENTENCES = 512


def quantize_static_qdq(folder: Path, texts: list[str]) -> None:
    """Static int8 of the export's fp32 graph: weights per channel, activations with scales fixed by MinMax
    calibration on ``texts``; the nodes the export keeps fp32 (FFN outputs, head, pooler) stay fp32. ONNX
    Runtime's QDQ format has no fused attention, so only the MatMuls around it are quantized."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from sentscore.model.folder import ModelFolder
    from sentscore.scoring.backends import load_tokenizer, pad
    from sentscore.scoring.export import ffn_output_nodes, head_nodes

    tokenizer = load_tokenizer(folder / "tokenizer.json", ModelFolder(folder).info().max_length)
    encodings = tokenizer.encode_batch(texts)

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([pad(encodings[i : i + 32]) for i in range(0, len(encodings), 32)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False).graph
    quantize_static(
        str(folder / "model.onnx"),
        str(folder / VARIANTS["static int8 (QDQ, calibrated)"]),
        Batches(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=[*head_nodes(graph), *ffn_output_nodes(graph)],
        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
    )


def speed(folder: Path, onnx_file: str, texts: list[str], threads: int) -> tuple[np.ndarray, float]:
    """Each sentence's score label and the sentences scored per second with ``threads`` threads."""
    from sentscore import Scorer

    scorer = Scorer.load(folder, backend="onnx", onnx_file=onnx_file, num_threads=threads)
    scorer.predict_proba(texts[:64])  # warm-up
    best, probs = float("inf"), None
    for _ in range(2):
        started = time.perf_counter()
        probs = scorer.predict_proba(texts)
        best = min(best, time.perf_counter() - started)
    return np.asarray(scorer.scale.labels)[probs.argmax(1)], len(texts) / best


def batch_dependence(scorer: Any, texts: list[str], sentences: int = 200) -> dict[str, float]:
    """How many of ``sentences`` dev sentences change score, and how far their probabilities move, between
    being scored alone and inside a batch of 32 random other sentences, by ``scorer`` (a loaded ``Scorer``)."""
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(texts), sentences, replace=False)
    alone = np.vstack([scorer.predict_proba([texts[i]]) for i in chosen])
    together = np.vstack(
        [scorer.predict_proba([texts[i], *(texts[j] for j in rng.choice(len(texts), 31))])[0] for i in chosen]
    )
    return {
        "sentences": sentences,
        "score_changed": int((alone.argmax(1) != together.argmax(1)).sum()),
        "max_probability_change": float(np.abs(alone - together).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(RESULTS / "model"), help="A trained model folder.")
    args = parser.parse_args()
    import pandas as pd

    from sentscore import Scorer
    from sentscore.scoring.export import export_onnx

    data = sst5_or_examples("dev")
    frame = pd.read_csv(data)
    texts, gold = frame["sentence"].astype(str).tolist(), frame["score"].astype(str).to_numpy()
    train = pd.read_csv(sst5_or_examples("train"))["sentence"].astype(str)
    scratch = Path(tempfile.mkdtemp(prefix="sentscore-quantize-"))
    folder = scratch / "model"
    shutil.copytree(args.model, folder, ignore=shutil.ignore_patterns("*.onnx"))
    export_onnx(folder, quantize="int8")
    shutil.copy(folder / "model.int8.onnx", folder / VARIANTS["dynamic int8, batched (sentscore 0.2)"])
    quantize_static_qdq(folder, train.sample(n=min(CALIBRATION_SENTENCES, len(train)), random_state=0).tolist())
    cores = os.cpu_count() or 1
    results: dict[str, Any] = {"data": data.name, "started": utc_now(), "cpu": cpu_name(), "cores": cores}
    labels_fp32 = None
    for name, onnx_file in VARIANTS.items():
        labels, one_thread = speed(folder, onnx_file, texts, 1)
        _, all_cores = speed(folder, onnx_file, texts, cores)
        labels_fp32 = labels if labels_fp32 is None else labels_fp32
        results[name] = {
            "sentences_per_s_1_thread": one_thread,
            "sentences_per_s_all_cores": all_cores,
            "accuracy": float(np.mean(labels == gold)),
            "agreement_with_fp32": float(np.mean(labels == labels_fp32)),
            "batch_dependence": batch_dependence(
                Scorer.load(folder, backend="onnx", onnx_file=onnx_file, num_threads=1), texts
            ),
            "megabytes": (folder / onnx_file).stat().st_size / 2**20,
        }
        print(f"[quantize] {name}: {results[name]}", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    path = write_result("quantize", results)
    print(f"[quantize] wrote {path}; render with: python -m bench.report")


if __name__ == "__main__":
    main()
