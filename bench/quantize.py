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
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .run import RESULTS, ROOT, SST5


def variants() -> dict[str, dict[str, Any]]:
    """name -> keyword arguments of `sentscore.export.quantize_int8` (the first is what export does)."""
    return {
        "sentscore export (FFN output layers fp32)": {},
        "every MatMul + attention int8": {"ffn_output_fp32": False},
        "MatMul only (attention and FFN outputs fp32)": {"op_types": ["MatMul", "Gemm"]},
    }


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

    from sentscore.export import quantize_int8

    data = SST5 / "dev.csv" if (SST5 / "dev.csv").is_file() else ROOT / "examples" / "data" / "dataset.csv"
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
    for index, (name, options) in enumerate(variants().items()):
        target = folder / f"model.variant{index}.onnx"
        quantize_int8(folder / "model.onnx", target, **options)
        labels, rate = score(folder, target.name, texts)
        results["variants"][name] = {
            "sentences_per_s": rate,
            "accuracy": float(np.mean(labels == gold)),
            "agreement_with_fp32": float(np.mean(labels == fp32_labels)),
        }
        print(f"[quantize] {name}: {results['variants'][name]}", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    (RESULTS / "quantize.json").write_text(json.dumps(results, indent=2))
    print(f"[quantize] wrote {RESULTS / 'quantize.json'}; render with: python -m bench.report")


if __name__ == "__main__":
    main()
