"""Training and scoring benchmark: sentscore against the reference recipe, measured in one run.

    .venv/bin/python -m bench.run                 # full run: both sides trained for the full epochs
    .venv/bin/python -m bench.run --quick         # 1 epoch each, fewer repeats: a smoke test

Uses ../shared/data/sst5/{train,dev}.csv when present, else the example data (split 80/20). Writes
bench/results/bench.json; `python -m bench.report` turns it (and serve.json) into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import (
    PYTHON,
    RESULTS,
    ROOT,
    has_result,
    machine,
    matmul_peak,
    offline_env,
    pick_data,
    read_result,
    result_path,
    utc_now,
    write_result,
)
from .reference import REFERENCE_PREDICT, reference_loop


def train_runs(train_csv: str, dev_csv: str, epochs: float, model_dir: Path) -> dict[str, Any]:
    runs = {}
    for impl in ("reference", "sentscore"):
        out = result_path(f"train_{impl}")
        command = [
            PYTHON,
            "-m",
            "bench.train_worker",
            impl,
            "--train",
            train_csv,
            "--dev",
            dev_csv,
            "--out",
            str(out),
            "--epochs",
            str(epochs),
        ]
        if impl == "sentscore":
            command += ["--keep", str(model_dir)]
        print(f"[bench] training: {impl}", flush=True)
        subprocess.run(command, check=True, cwd=ROOT, env=offline_env())
        runs[impl] = read_result(f"train_{impl}")
    return runs


def training_figures(run: dict[str, Any], peak_gflops: float, bf16_peak_gflops: float) -> dict[str, Any]:
    samples = run["train_samples"] * run["epochs"]
    tokens = run["real_tokens_per_epoch"] * run["epochs"]
    gflops = run["training_flops_per_token"] * tokens / run["train_seconds"] / 1e9
    return {
        "samples_per_s": samples / run["train_seconds"],
        "real_tokens_per_s": tokens / run["train_seconds"],
        "train_seconds": run["train_seconds"],
        "wall_seconds": run["wall_seconds"],
        "peak_rss_mb": run["peak_rss_mb"],
        "kept_dev_accuracy": run["kept_dev_accuracy"],
        "best_dev_accuracy": max(p["dev_accuracy"] for p in run["curve"]),
        "gflops": gflops,
        "fraction_of_matmul_peak": gflops / peak_gflops,
        "precision": run.get("precision", "fp32"),
        "fraction_of_bf16_matmul_peak": gflops / bf16_peak_gflops,
        "curve": run["curve"],
        "matmul_gflops_around_run": run.get("matmul_gflops_around_run"),
    }


def time_to_accuracy(curve: list[dict[str, float]], target: float) -> float | None:
    for point in curve:
        if point["dev_accuracy"] >= target:
            return point["train_seconds"]
    return None


# ---- scoring ---------------------------------------------------------------------------------------------


def scoring_runs(model_dir: Path, dev_csv: str, repeats: int) -> dict[str, Any]:
    import pandas as pd

    dev = pd.read_csv(dev_csv)
    texts, labels = dev["sentence"].astype(str).tolist(), (dev["score"] - dev["score"].min()).to_numpy()
    methods = {
        "reference per-sentence loop": reference_loop(model_dir),
        "transformers.pipeline(batch_size=32)": pipeline_batches(model_dir),
        "sentscore torch": sentscore_backend(model_dir, "torch"),
        "sentscore onnx fp32": sentscore_backend(model_dir, "onnx", "model.onnx"),
        "sentscore onnx int8": sentscore_backend(model_dir, "onnx", "model.int8.onnx"),
    }
    methods = {name: predict for name, predict in methods.items() if predict is not None}
    results = {}
    for name, predict in methods.items():
        print(f"[bench] scoring: {name}", flush=True)
        times, predictions = [], None
        for _ in range(repeats):
            started = time.perf_counter()
            predictions = np.asarray(predict(texts))
            times.append(time.perf_counter() - started)
        results[name] = {
            "sentences_per_s": len(texts) / statistics.median(times),
            "seconds": times,
            "accuracy": float(np.mean(predictions == labels)),
            "predictions": predictions.tolist(),
        }
    fp32 = np.asarray(results["sentscore onnx fp32"]["predictions"])
    for result in results.values():
        result["agreement_with_fp32"] = float(np.mean(np.asarray(result.pop("predictions")) == fp32))
    return {"sentences": len(texts), "results": results}


def pipeline_batches(model_dir: Path):
    """transformers.pipeline in batches of 32; None when the folder has sentscore's own head, which pipeline
    refuses."""
    import json

    from transformers import pipeline

    if json.loads((model_dir / "config.json").read_text()).get("model_type") == "sentscore":
        return None

    classify = pipeline("text-classification", model=str(model_dir), device="cpu")
    label2id = classify.model.config.label2id

    def predict(texts):
        return [label2id[r["label"]] for r in classify(texts, batch_size=32, truncation=True)]

    return predict


def sentscore_backend(model_dir: Path, backend: str, onnx_file: str | None = None):
    from sentscore import Scorer

    scorer = Scorer.load(model_dir, backend=backend, onnx_file=onnx_file)
    return lambda texts: scorer.predict_proba(texts).argmax(axis=1)


# ---- one-sentence CLI ------------------------------------------------------------------------------------


def cli_runs(model_dir: Path, repeats: int) -> dict[str, Any]:
    sentence = "The pasta was delicious but the service was painfully slow."
    sentscore_bin = str(Path(PYTHON).with_name("sentscore"))
    commands = {
        "sentscore predict (onnx int8, auto)": [sentscore_bin, "predict", str(model_dir), sentence],
        "sentscore predict --backend torch": [sentscore_bin, "predict", str(model_dir), sentence, "--backend", "torch"],
        "reference predict script": [PYTHON, "-c", REFERENCE_PREDICT, str(model_dir), sentence],
    }
    results = {}
    for name, command in commands.items():
        print(f"[bench] one-sentence CLI: {name}", flush=True)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=offline_env())
            times.append(time.perf_counter() - started)
            if done.returncode != 0 or "Score:" not in done.stdout:
                raise RuntimeError(f"{name} failed: {done.stderr[-2000:]}")
        results[name] = {"median_seconds": statistics.median(times), "seconds": times, "output": done.stdout.strip()}
    return results


def export(model_dir: Path, dev_csv: str) -> dict[str, Any]:
    from sentscore.data import read_texts
    from sentscore.scoring.export import export_onnx

    texts = read_texts(dev_csv)[1]
    result = export_onnx(model_dir, quantize="int8", check_sentences=texts)
    return {"max_abs_logit_diff": result.max_abs_logit_diff, "int8_agreement": result.int8_agreement}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 epoch, 1 repeat: checks the benchmark runs.")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--examples", action="store_true", help="Use the example data even when SST-5 is there.")
    parser.add_argument("--skip-training", action="store_true", help="Reuse bench/results/train_*.json and the model.")
    args = parser.parse_args()
    epochs, repeats = (1, 1) if args.quick else (args.epochs, args.repeats)
    RESULTS.mkdir(parents=True, exist_ok=True)  # the training workers write their results there
    model_dir = RESULTS / "model"
    with tempfile.TemporaryDirectory() as tmp:
        train_csv, dev_csv, data_name = pick_data(Path(tmp), args.examples)
        report: dict[str, Any] = {
            "machine": machine(),
            "data": data_name,
            "epochs": epochs,
            "repeats": repeats,
            "started": utc_now(),
        }
        report["matmul_peak_gflops"] = matmul_peak()
        report["bf16_matmul_peak_gflops"] = matmul_peak(dtype="bfloat16")
        print(
            f"[bench] matmul peak: fp32 {report['matmul_peak_gflops']:.1f}, "
            f"bf16 {report['bf16_matmul_peak_gflops']:.1f} GFLOP/s",
            flush=True,
        )
        if args.skip_training:
            runs = {impl: read_result(f"train_{impl}") for impl in ("reference", "sentscore")}
            # The training figures compare with the peak of their own time: the probes taken around the runs.
            around_runs = [probe for run in runs.values() for probe in run.get("matmul_gflops_around_run") or []]
            report["matmul_peak_gflops"] = max([report["matmul_peak_gflops"], *around_runs])
            previous = read_result("bench") if has_result("bench") else {}
            report["training_started"] = previous.get("training_started", "at an unrecorded time")
        else:
            report["training_started"] = report["started"]
            runs = train_runs(train_csv, dev_csv, epochs, model_dir)
            # Measured again after training, the better of the two kept: the machine's speed drifts on a VM.
            report["matmul_peak_gflops"] = max(report["matmul_peak_gflops"], matmul_peak())
            print(f"[bench] fp32 matmul peak, best before/after training: {report['matmul_peak_gflops']:.1f}")
        # Probed again too, the better kept: the bf16 rate drifts in slow spells as the fp32 rate does.
        report["bf16_matmul_peak_gflops"] = max(report["bf16_matmul_peak_gflops"], matmul_peak(dtype="bfloat16"))
        print(f"[bench] bf16 matmul peak, best of two: {report['bf16_matmul_peak_gflops']:.1f} GFLOP/s", flush=True)
        report["training"] = {
            impl: training_figures(run, report["matmul_peak_gflops"], report["bf16_matmul_peak_gflops"])
            for impl, run in runs.items()
        }
        reference_accuracy = report["training"]["reference"]["kept_dev_accuracy"]
        report["time_to_reference_accuracy"] = {
            impl: time_to_accuracy(figures["curve"], reference_accuracy) for impl, figures in report["training"].items()
        }
        report["export"] = export(model_dir, dev_csv)
        report["scoring"] = scoring_runs(model_dir, dev_csv, repeats)
        report["cli"] = cli_runs(model_dir, max(3, repeats + 2))
    path = write_result("bench", report)
    print(f"[bench] wrote {path}; render with: python -m bench.report")


if __name__ == "__main__":
    main()
