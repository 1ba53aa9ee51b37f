"""Scoring at the CPU's limit (issue 44): each backend's speed, accuracy and agreement with fp32, and dependence
on the batch; the whole CLI scoring a file against the recipe's per-sentence loop; one-sentence latency.

    .venv/bin/python -m bench.scoring [--models FOLDER ...] [--repeats 3]

The models are the full-data runs of ``bench.quality`` kept in bench/results/quality_models (the defaults on
SST-5 and SemEval-4C, seeds 42-44, trained in fp32 so that any difference is the scoring's), each scored on its
own dev set by ONNX Runtime in fp32 (the reference), by OpenVINO (bf16 where the CPU multiplies bf16 natively)
and by what ``--backend auto`` picks on this machine. Speed: SST-5 dev with the first model, at one thread and
at every core, best of ``--repeats``. Dependence on the batch: 200 dev sentences scored alone and inside 31
random others. The whole CLI: ``sentscore predict MODEL --input FILE --output OUT`` on SST-5 dev twice over (2202
sentences, about the size of its test set), process start to exit, against the recipe's ``predict()`` called per
sentence with its model loaded once. One sentence: ``sentscore predict MODEL SENTENCE``, process start to exit.
Writes bench/results/scoring.json, or scoring_without_bf16.json on a CPU without native bf16 (AVX2 only, say),
rendered by ``python -m bench.report``.
"""

from __future__ import annotations

import argparse
import os
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
    SEMEVAL,
    cpu_name,
    for_this_cpu,
    offline_env,
    sst5_or_examples,
    utc_now,
    write_result,
)
from .reference import reference_loop

MODELS = [
    RESULTS / "quality_models" / f"{data}__defaults__every_epoch__fp32__s{seed}"
    for data in ("sst5", "semeval_4c")
    for seed in (42, 43, 44)
]
#: Backends compared with ONNX Runtime in fp32 (the reference).
BACKENDS = ("onnx", "openvino", "auto")
SENTENCE = "The pasta was delicious but the service was painfully slow."


def dev_set(model: Path) -> tuple[list[str], np.ndarray]:
    import pandas as pd

    frame = pd.read_csv(SEMEVAL / "dev.csv" if model.name.startswith("semeval") else sst5_or_examples("dev"))
    return frame["sentence"].astype(str).tolist(), frame["score"].to_numpy()


def agreement(model: Path) -> dict[str, Any]:
    """Dev accuracy of each backend, and how far it is from ONNX Runtime's fp32."""
    from sentscore import Scorer

    texts, gold = dev_set(model)
    found: dict[str, Any] = {}
    reference = None
    for backend in BACKENDS:
        scorer = Scorer.load(model, backend=backend)
        probs = scorer.predict_proba(texts)
        reference = probs if reference is None else reference
        scores = np.asarray(scorer.scale.labels, dtype=float)[probs.argmax(1)]
        found[backend] = {
            "runs_on": scorer.backend,
            "accuracy": float(np.mean(scores == gold)),
            "agreement_with_fp32": float(np.mean(probs.argmax(1) == reference.argmax(1))),
            "max_probability_difference": float(np.abs(probs - reference).max()),
        }
    return found


def batch_dependence(model: Path, backend: str, sentences: int = 200) -> dict[str, Any]:
    """Scores changed, and the largest probability moved, between a sentence alone and inside 31 random others."""
    from sentscore import Scorer

    from .quantize import batch_dependence as alone_and_among_others

    return alone_and_among_others(Scorer.load(model, backend=backend), dev_set(model)[0], sentences)


def speed(model: Path, backend: str, threads: int, repeats: int) -> float:
    """Dev sentences scored per second, the model loaded beforehand, best of ``repeats``."""
    import torch

    from sentscore import Scorer

    torch.set_num_threads(threads)  # the torch backend's threads (this process is the benchmark's own)
    texts, _ = dev_set(model)
    scorer = Scorer.load(model, backend=backend, num_threads=threads)
    scorer.predict_proba(texts)  # warm-up: OpenVINO builds its kernels for each new length on first sight
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        scorer.predict_proba(texts)
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def timed(command: list[str], repeats: int) -> list[float]:
    times = []
    env = offline_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's install keeps its compiled modules
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise RuntimeError(f"{command} failed: {done.stderr[-2000:]}")
    return times


def whole_cli(model: Path, repeats: int) -> dict[str, Any]:
    """The file through the CLI with each backend, against the recipe's loop (model loaded once, not timed), in
    ``repeats`` rounds that take turns: the machine's speed moves within minutes, and the loop's fp32 and the
    CLI's bf16 do not move alike, so each round's ratio is kept."""
    import pandas as pd

    texts, _ = dev_set(model)
    texts = texts + texts
    sentscore = str(Path(PYTHON).with_name("sentscore"))
    predict = reference_loop(model)
    predict(texts[:16])
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "file.csv"
        pd.DataFrame({"sentence": texts}).to_csv(source, index=False)
        command = [sentscore, "predict", str(model), "--input", str(source), "--output", f"{tmp}/out.csv", "-q"]
        rounds: dict[str, list[float]] = {}
        for _ in range(repeats):
            for backend in BACKENDS:
                rounds.setdefault(backend, []).extend(timed([*command, "--backend", backend], 1))
            started = time.perf_counter()
            predict(texts)
            rounds.setdefault("recipe", []).append(time.perf_counter() - started)
    found: dict[str, Any] = {"sentences": len(texts), "rounds": rounds}
    for backend in BACKENDS:
        found[f"sentscore predict --backend {backend}"] = statistics.median(rounds[backend])
    found["recipe's predict() per sentence"] = statistics.median(rounds["recipe"])
    found["auto ratio per round"] = [r / a for r, a in zip(rounds["recipe"], rounds["auto"], strict=True)]
    one = [sentscore, "predict", str(model), SENTENCE]
    found["one sentence"] = {backend: statistics.median(timed([*one, "--backend", backend], 5)) for backend in BACKENDS}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", type=Path, default=MODELS)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from sentscore.scoring.openvino_backend import openvino_is_faster

    cores = os.cpu_count() or 1
    name = for_this_cpu("scoring")
    results: dict[str, Any] = {
        "started": utc_now(),
        "cpu": cpu_name(),
        "cores": cores,
        "auto_runs_openvino": openvino_is_faster(),
        "native_bf16": name == "scoring",
    }
    first = args.models[0]
    results["whole_cli"] = whole_cli(first, args.repeats)
    print(f"[scoring] whole CLI: {results['whole_cli']}", flush=True)
    results["speed"] = {
        backend: {f"{threads} thread(s)": speed(first, backend, threads, args.repeats) for threads in (1, cores)}
        for backend in ("torch", "onnx", "openvino")
    }
    print(f"[scoring] speed: {results['speed']}", flush=True)
    results["batch_dependence"] = {backend: batch_dependence(first, backend) for backend in ("onnx", "openvino")}
    print(f"[scoring] batch dependence: {results['batch_dependence']}", flush=True)
    results["models"] = {}
    for model in args.models:
        results["models"][model.name] = agreement(model)
        print(f"[scoring] {model.name}: {results['models'][model.name]}", flush=True)
    path = write_result(name, results)
    print(f"[scoring] wrote {path}; render with: python -m bench.report")


if __name__ == "__main__":
    main()


# ---- BENCHMARKS.md ---------------------------------------------------------------------------------------

#: The issue's bars: the whole CLI on a file against the recipe's loop, one sentence, accuracy lost against fp32.
FILE_SPEED_UP, ONE_SENTENCE_SECONDS, POINTS_LOST = 8.0, 0.5, 0.5


def section(result: dict[str, Any]) -> list[str]:
    """The "Scoring at the CPU's limit" section of BENCHMARKS.md."""
    cli = result["whole_cli"]
    recipe = cli["recipe's predict() per sentence"]
    auto = "openvino" if result["auto_runs_openvino"] else "onnx"
    rows = [
        "## Scoring at the CPU's limit (`python -m bench.scoring`)"
        if result.get("native_bf16", True)
        else "### On a CPU that does not multiply bf16 natively",
        "",
        f"Measured {result['started']} on {result['cpu']} ({result['cores']} cores); `--backend auto` runs the fp32 "
        f"export on {'OpenVINO in bf16' if auto == 'openvino' else 'ONNX Runtime'} here. The whole CLI: "
        f"`sentscore predict MODEL --input FILE --output OUT` on {cli['sentences']} sentences (SST-5 dev twice), "
        "process start to exit, median of the runs; the recipe's `predict()` per sentence with its model loaded "
        "once (loading not counted), on the same sentences"
        + (f", in {len(cli['rounds']['recipe'])} rounds taking turns with the CLI's runs." if "rounds" in cli else "."),
        "",
        "| the whole CLI on the file | seconds | sentences/s | against the recipe's loop |",
        "|---|---:|---:|---:|",
        f"| recipe's predict() per sentence | {recipe:.1f} | {cli['sentences'] / recipe:.0f} | 1.00× |",
    ]
    for backend in BACKENDS:
        seconds = cli[f"sentscore predict --backend {backend}"]
        rows.append(
            f"| `sentscore predict --backend {backend}` | {seconds:.2f} | {cli['sentences'] / seconds:.0f} | "
            f"{recipe / seconds:.2f}× |"
        )
    one = cli["one sentence"]
    rows += [
        "",
        "One sentence, `sentscore predict MODEL SENTENCE`, process start to exit (median of 5): "
        + ", ".join(f"`--backend {b}` {one[b]:.2f} s" for b in BACKENDS)
        + ".",
        "",
        "Dev sentences per second with the model loaded (SST-5 dev, best of the runs, after one warm-up pass):",
        "",
        "| backend | 1 thread | every core |",
        "|---|---:|---:|",
    ]
    every_core = f"{result['cores']} thread(s)"
    for backend, figures in result["speed"].items():
        rows.append(f"| {backend} | {figures['1 thread(s)']:.0f} | {figures[every_core]:.0f} |")
    rows += [
        "",
        "Dependence on the batch: 200 dev sentences alone against inside 31 random others: "
        + "; ".join(
            f"{b}: {d['score_changed']} scores changed, probabilities moved by at most "
            f"{d['max_probability_change']:.1e}"
            for b, d in result["batch_dependence"].items()
        )
        + ".",
        "",
        "Each model on its own dev set (the defaults, trained as `sentscore train` trains them on the machine), "
        "against ONNX Runtime's fp32:",
        "",
        "| model | fp32 accuracy | OpenVINO accuracy | points | agrees with fp32 | largest probability difference |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lost = []
    for name, figures in result["models"].items():
        fp32, fast = figures["onnx"], figures["openvino"]
        lost.append(100 * (fp32["accuracy"] - fast["accuracy"]))
        rows.append(
            f"| {name} | {fp32['accuracy']:.4f} | {fast['accuracy']:.4f} | "
            f"{100 * (fast['accuracy'] - fp32['accuracy']):+.2f} | {100 * fast['agreement_with_fp32']:.1f}% | "
            f"{fast['max_probability_difference']:.4f} |"
        )
    speed_up = recipe / cli["sentscore predict --backend auto"]
    per_round = cli.get("auto ratio per round")
    spread = f" (rounds {min(per_round):.2f}-{max(per_round):.2f}×)" if per_round else ""
    rows += [
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        f"| file scoring ≥ {FILE_SPEED_UP:.0f}× the recipe's loop (whole CLI, `auto`) | {speed_up:.2f}×{spread} | "
        f"{'met' if speed_up >= FILE_SPEED_UP else '**not met**'} |",
        f"| ≤ {POINTS_LOST} points of accuracy lost against fp32 (`auto`'s backend, every model) | at most "
        f"{max(lost):.2f} points lost | {'met' if max(lost) <= POINTS_LOST else '**not met**'} |",
        f"| one-sentence predict ≤ {ONE_SENTENCE_SECONDS} s (`auto`) | {one['auto']:.2f} s | "
        f"{'met' if one['auto'] <= ONE_SENTENCE_SECONDS else '**not met**'} |",
        "",
    ]
    return rows
