"""Training's wall time, the whole command on each side: the recipe's train.py, run as published from a copy in a
temporary folder (its config naming the bundled model, the epochs set as asked), against `sentscore train` with
its defaults, on the same rows drawn from SST-5's training file; rounds alternate the two. sentscore's summary
says where its seconds went; each kept model is scored on SST-5 dev. Each process's peak resident memory is
recorded beside its seconds.

    .venv/bin/python -m bench.train_wall                    # 2,000 rows, 1 epoch, 2 rounds
    .venv/bin/python -m bench.train_wall --rows 0 --epochs 3 --rounds 1   # all of SST-5's training file

Writes bench/results/train_wall.json (``--rows 0``: train_wall_full.json; on a CPU without native bf16, with
``_without_bf16`` before ``.json``); `python -m bench.report` renders them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import (
    PYTHON,
    SST5,
    WITHOUT_BF16,
    cpu_name,
    for_this_cpu,
    has_result,
    offline_env,
    read_result,
    utc_now,
    write_result,
)

RECIPE = Path(__file__).resolve().parents[2] / "shared" / "recipe"
#: The stages line of `sentscore train`'s summary.
STAGES = re.compile(r"Where the (\d+) s went: (.*)\.")


def rows_for(workdir: Path, rows: int, seed: int = 0) -> Path:
    import pandas as pd

    frame = pd.read_csv(SST5 / "train.csv")
    if rows:
        frame = frame.sample(rows, random_state=seed)
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    path = workdir / "data" / "dataset.csv"
    frame[["sentence", "score"]].to_csv(path, index=False)
    return path


def run_recipe(workdir: Path, epochs: float) -> tuple[float, float]:
    """The recipe's train.py in ``workdir`` (its data/dataset.csv there); the wall seconds of the whole run and
    its peak resident memory (MB)."""
    from sentscore.model.base import bundled_model_path

    for name in ("train.py", "utils.py"):
        shutil.copy(RECIPE / name, workdir / name)
    config = json.loads((RECIPE / "config.json").read_text())
    config.update(model_name=str(bundled_model_path()), num_train_epochs=epochs)
    (workdir / "config.json").write_text(json.dumps(config))
    shutil.rmtree(workdir / "models", ignore_errors=True)
    return timed([PYTHON, "train.py"], workdir)


def run_sentscore(workdir: Path, data: Path, epochs: float) -> tuple[float, float, dict[str, float]]:
    """`sentscore train` on ``data``; the wall seconds, the peak resident memory (MB) and the stages its summary
    names."""
    sentscore = str(Path(PYTHON).with_name("sentscore"))
    command = [sentscore, "train", "--train-file", str(data), "--num-train-epochs", str(epochs)]
    command += ["--output-dir", str(workdir / "sentscore_model"), "--overwrite", "-q"]
    seconds, peak = timed(command, workdir, keep_output=True)
    found = STAGES.search((workdir / "stdout.txt").read_text())
    if not found:
        raise RuntimeError("sentscore train printed no stages line")
    stages = {}
    for part in found.group(2).split(", "):
        name, value = part.rsplit(" ", 1)
        stages[name] = float(value)
    return seconds, peak, stages


def timed(command: list[str], cwd: Path, keep_output: bool = False) -> tuple[float, float]:
    """The wall seconds of ``command`` run in ``cwd``, and its peak resident memory in MB (the kernel's count
    for the process, as `/usr/bin/time` reports it)."""
    env = {**offline_env(), "COLUMNS": "1000"}  # the summary on one line each
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's install keeps its compiled modules
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"{command} failed: {err.read()[-3000:]}")
        if keep_output:
            (cwd / "stdout.txt").write_text(out.read())
    return seconds, usage.ru_maxrss / 1024


def dev_accuracy(recipe_models: Path, sentscore_model: Path) -> dict[str, float]:
    """Each side's kept model on SST-5 dev: the recipe's folder read as its predict.py reads it (batched here),
    sentscore's as `predict` scores it."""
    import pandas as pd
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    from sentscore import Scorer

    dev = pd.read_csv(SST5 / "dev.csv")
    texts, gold = list(dev["sentence"]), dev["score"].to_numpy()
    tokenizer = AutoTokenizer.from_pretrained(recipe_models)
    model = BertForSequenceClassification.from_pretrained(recipe_models).eval()
    predicted = []
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            batch = tokenizer(
                texts[start : start + 64], truncation=True, max_length=128, padding=True, return_tensors="pt"
            )
            predicted += (model(**batch).logits.argmax(-1) + 1).tolist()
    ours = [p.score for p in Scorer.load(sentscore_model).predict(texts)]
    return {
        "recipe": float(np.mean(np.array(predicted) == gold)),
        "sentscore": float(np.mean(np.array(ours) == gold)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000, help="rows drawn from SST-5's training file (0: all)")
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    result: dict[str, Any] = {
        "started": utc_now(),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "rows": args.rows,
        "epochs": args.epochs,
        "rounds": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data = rows_for(workdir, args.rows)
        result["rows"] = sum(1 for _ in data.open()) - 1
        for round_ in range(args.rounds):
            recipe, recipe_mb = run_recipe(workdir, args.epochs)
            ours, ours_mb, stages = run_sentscore(workdir, data, args.epochs)
            result["rounds"].append(
                {"recipe": recipe, "sentscore": ours, "stages": stages, "peak_mb": [recipe_mb, ours_mb]}
            )
            print(
                f"[train_wall] round {round_ + 1}: recipe {recipe:.1f} s ({recipe_mb:.0f} MB), sentscore {ours:.1f} s "
                f"({ours_mb:.0f} MB) {stages}",
                flush=True,
            )
        result["dev_accuracy"] = dev_accuracy(workdir / "models", workdir / "sentscore_model")
    print(f"[train_wall] dev accuracy: {result['dev_accuracy']}")
    path = write_result(result_name(args.rows), result)
    print(f"[train_wall] wrote {path}; render with: python -m bench.report")


def result_name(rows: int) -> str:
    """The result a run replaces: one per size, and per kind of CPU (:func:`~.common.for_this_cpu`)."""
    return for_this_cpu("train_wall" if rows else "train_wall_full")


# ---- BENCHMARKS.md ---------------------------------------------------------------------------------------

#: The issue's bars: the whole `train` command against the recipe's, on 2,000 rows x 1 epoch and on all of SST-5,
#: on either kind of CPU.
SPEED_UP = {
    name + kind: bar for name, bar in (("train_wall", 3.0), ("train_wall_full", 4.0)) for kind in ("", WITHOUT_BF16)
}


def section() -> list[str]:
    """The "Training: the whole command" section of BENCHMARKS.md, from whichever runs there are."""
    names = [name for name in SPEED_UP if has_result(name)]
    if not names:
        return []
    lines = [
        "## Training: the whole command against the recipe's (`python -m bench.train_wall`)",
        "",
        "The recipe's train.py as published (run from a copy, its config naming the bundled model) against "
        "`sentscore train` with its defaults, on the same rows of SST-5's training file, rounds alternating; "
        "wall seconds of each whole process. sentscore's stages are those its summary prints (start-up: from "
        "the process's start to training; data: reading and tokenizing, with transformers' imports). Dev "
        "accuracy: each side's kept model on SST-5 dev. Peak memory: each process's peak resident set (median of "
        "the rounds).",
        "",
        "| run | machine | recipe s | sentscore s | speed-up | target | sentscore's stages (s, median) "
        "| dev accuracy recipe / sentscore | peak memory recipe / sentscore (MB) |",
        "|---|---|---:|---:|---:|---:|---|---|---|",
    ]
    for name in names:
        result = read_result(name)
        recipe = statistics.median(r["recipe"] for r in result["rounds"])
        ours = statistics.median(r["sentscore"] for r in result["rounds"])
        ratios = [r["recipe"] / r["sentscore"] for r in result["rounds"]]
        stages = result["rounds"][0]["stages"]
        median_stages = {k: statistics.median(r["stages"].get(k, 0.0) for r in result["rounds"]) for k in stages}
        shown = ", ".join(f"{k} {v:.1f}" for k, v in median_stages.items())
        accuracy = result["dev_accuracy"]
        peaks = [r["peak_mb"] for r in result["rounds"] if "peak_mb" in r]
        memory = (
            f"{statistics.median(p[0] for p in peaks):.0f} / {statistics.median(p[1] for p in peaks):.0f}"
            if peaks
            else "not measured"
        )
        kind = ", no native bf16 (fp32)" if name.endswith(WITHOUT_BF16) else ""
        spread = f" (rounds {min(ratios):.2f}-{max(ratios):.2f}×)" if len(ratios) > 1 else ""
        lines.append(
            f"| {result['rows']} rows × {result['epochs']:g} epoch{'s' if result['epochs'] != 1 else ''}, "
            f"{len(ratios)} round{'s' if len(ratios) > 1 else ''} ({result['started']}) | {result['cpu']}, "
            f"{result['cores']} cores{kind} | {recipe:.1f} | {ours:.1f} | {recipe / ours:.2f}×{spread} | "
            f"≥ {SPEED_UP[name]:g}× | {shown} | {accuracy['recipe']:.4f} / {accuracy['sentscore']:.4f} | {memory} |"
        )
    return [*lines, ""]


if __name__ == "__main__":
    main()
