"""The CUDA path on a real GPU: training (fp32, fp16, bf16) with the recipe's per-epoch GPU-memory lines, scoring
with the torch backend on the GPU, serving with batching at 1 and 32 clients, a torchrun launch, and the
GPU-trained folder exported to ONNX and scored on a laptop's CPU provider. One JSON of results.

Prepared here, run there (the GPU machine reaches no registry and takes at most 64 MiB of working tree):

    .venv/bin/python -m bench.gpu_check prepare                     # .gpu/: SST-5, the tokenizer, the wheels
    .venv/bin/python -m bench.gpu_check run --device cpu --tiny     # the dry run, on this CPU
    # there, with .gpu carried:
    bash bench/gpu_check.sh                                         # -> $OUT/gpu_check.json

Quality is measured on the CPU (bench.quality); the models here have random weights built from the bundled
MiniLM's config and from BERT-base's, since the weights cannot travel: the GPU run measures speed, memory and
that every code path works.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / ".gpu"
#: What sentscore needs that the GPU machine's image lacks (KINDS.md lists what it has), as wheels.
WHEELS = [
    "datasets==5.2.0",
    "dill==0.4.1",
    "multiprocess==0.70.19",
    "fastapi==0.165.0",
    "starlette==1.10.0",
    "pydantic==2.14.4",
    "pydantic-core==2.50.5",
    "annotated-types==0.8.0",
    "typing-inspection==0.4.5",
    "uvicorn==0.55.0",
    "python-multipart==0.0.34",
    "swagger-ui-bundle==1.1.0",
]
PRECISIONS = ("fp32", "fp16", "bf16")


# ---- here: what travels ------------------------------------------------------------------------------------------


def prepare(assets: Path = ASSETS) -> None:
    """SST-5 train and dev, the bundled model's config and tokenizer (not its weights), and the wheels, in
    ``assets`` (ignored by git; carried to the GPU machine)."""
    from sentscore.model.base import bundled_model_path

    from .common import SST5

    (assets / "sst5").mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev"):
        shutil.copy(SST5 / f"{split}.csv", assets / "sst5" / f"{split}.csv")
    bundled, minilm = bundled_model_path(), assets / "minilm"
    minilm.mkdir(exist_ok=True)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if (bundled / name).is_file():
            shutil.copy(bundled / name, minilm / name)
    platforms = [f"--platform=manylinux_2_{n}_x86_64" for n in (17, 27, 28)] + ["--platform=manylinux2014_x86_64"]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    command += ["--python-version=3.12", "--implementation=cp", *platforms, "-d", str(assets / "wheels"), *WHEELS]
    subprocess.run(command, check=True)
    size = sum(f.stat().st_size for f in assets.rglob("*") if f.is_file())
    print(f"[gpu_check] {assets}: {size / 2**20:.1f} MiB to carry")


# ---- there: the checks -------------------------------------------------------------------------------------------


def environment(device: str) -> dict[str, Any]:
    import torch
    import transformers

    import sentscore

    found = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentscore": sentscore.__version__,
        "cuda": torch.version.cuda,
        "device": device,
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        found |= {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1)}
        found |= {"capability": ".".join(map(str, torch.cuda.get_device_capability(0)))}
        found |= {"bf16_supported": torch.cuda.is_bf16_supported()}
    return found


def random_model(shape: str, assets: Path, work: Path, tiny: bool) -> Path:
    """A model folder of random weights: the bundled MiniLM's shape or BERT-base's, with the bundled tokenizer
    (tiny: 2 layers of 32, for the dry run)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(assets / "minilm"))
    if tiny:
        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2)
        config.num_attention_heads, config.intermediate_size = 2, 64
    elif shape == "minilm":
        config = BertConfig.from_pretrained(str(assets / "minilm"))
    else:  # BERT-base: hidden 768, 12 layers, 12 heads, the same WordPiece vocabulary
        config = BertConfig(vocab_size=tokenizer.vocab_size)
    torch.manual_seed(0)
    folder = work / f"random-{shape}"
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


class Lines(logging.Handler):
    """Keeps the messages of a logger (the per-epoch GPU memory lines the recipe printed)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def train_once(model: Path, data: Path, out: Path, device: str, precision: str) -> dict[str, Any]:
    """One epoch on SST-5 train (the defaults, 20% held out), timed, with the peak GPU memory and the lines
    the memory logger printed."""
    import torch

    from sentscore import TrainConfig, train

    config = TrainConfig(
        model_name=str(model),
        train_file=str(data / "train.csv"),
        output_dir=str(out),
        num_train_epochs=1,
        device=device,
        fp16=precision == "fp16",
        bf16=precision == "bf16",
        onnx_export="none",
        overwrite=True,
    )
    lines = Lines()
    logging.getLogger("sentscore.training.callbacks").addHandler(lines)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    try:
        result = train(config, show_progress=False)
    finally:
        logging.getLogger("sentscore.training.callbacks").removeHandler(lines)
    wall = time.perf_counter() - started
    return {
        "precision": precision,
        "train_samples": result.train_samples,
        "wall_seconds": round(wall, 2),
        "train_seconds": round(result.train_seconds, 2),
        "samples_per_s": round(result.train_samples / result.train_seconds, 1),
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None,
        "memory_lines": [line for line in lines.lines if "GiB" in line],
        "validation_accuracy": result.metrics["accuracy"],
        "resolved_bf16": result.config.bf16,
    }


def score_speed(model: Path, texts: list[str], device: str) -> dict[str, Any]:
    """Sentences per second with the torch backend on ``device``, one sentence per call and batches of 64."""
    from sentscore import Scorer

    speeds = {}
    for batch_size, some in ((1, texts[:200]), (64, texts)):
        scorer = Scorer.load(model, backend="torch", device=device, batch_size=batch_size)
        scorer.predict_proba(some[:8])  # warm-up
        started = time.perf_counter()
        if batch_size == 1:
            for text in some:
                scorer.predict_proba([text])
        else:
            scorer.predict_proba(some)
        speeds[f"batch_{batch_size}_sentences_per_s"] = round(len(some) / (time.perf_counter() - started), 1)
    return {"device": scorer.device, **speeds}


def serve_speed(model: Path, texts: list[str], device: str, seconds: float) -> dict[str, Any]:
    """`sentscore serve --device` with batching: requests per second at 1 and 32 concurrent clients."""
    import httpx

    from .serve import answering, free_port, python_load

    port = free_port()
    command = [sys.executable, "-m", "sentscore", "serve", str(model), "--port", str(port), "-q"]
    server = subprocess.Popen(
        [*command, "--backend", "torch", "--device", device, "--batching"], stderr=subprocess.PIPE, env=os.environ
    )
    try:
        answering(server, port, seconds=180)
        info = httpx.get(f"http://127.0.0.1:{port}/v1/model", timeout=10).json()
        levels = [asyncio.run(python_load(port, clients, texts, seconds)) for clients in (1, 32)]
    finally:
        server.terminate()
        server.wait(timeout=60)
    ratio = levels[1]["requests_per_s"] / levels[0]["requests_per_s"]
    return {"device": info.get("device"), "levels": levels, "32_over_1": round(ratio, 2)}


def torchrun_launch(model: Path, data: Path, out: Path, device: str) -> dict[str, Any]:
    """`torchrun --nproc_per_node 1 -m sentscore train` (NCCL on CUDA) through the rank-aware path."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "-m", "sentscore", "train"]
    command += ["--model-name", str(model), "--train-file", str(data / "train.csv"), "--output-dir", str(out)]
    command += ["--num-train-epochs", "1", "--device", device, "--onnx-export", "none", "--overwrite", "-q"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ)
    return {
        "returncode": done.returncode,
        "seconds": round(time.perf_counter() - started, 1),
        "folder_written": (out / "sentscore.json").is_file(),
        "stderr_tail": done.stderr[-1500:],
    }


def export_on_cpu(model: Path, texts: list[str]) -> dict[str, Any]:
    """The GPU-trained folder exported to ONNX and scored on the CPU provider, against PyTorch on the CPU."""
    import numpy as np

    from sentscore import Scorer, export_onnx

    export_onnx(model)
    onnx = Scorer.load(model, backend="onnx").predict_proba(texts)
    torch_cpu = Scorer.load(model, backend="torch").predict_proba(texts)
    return {
        "sentences": len(texts),
        "max_abs_probability_difference": float(np.abs(onnx - torch_cpu).max()),
        "same_score": float((onnx.argmax(1) == torch_cpu.argmax(1)).mean()),
    }


def checked(results: dict[str, Any], name: str, check: Callable[[], Any]) -> Any:
    """Run one check; its result or its error (with the traceback's end) goes into ``results``."""
    started = time.perf_counter()
    print(f"[gpu_check] {name} ...", flush=True)
    try:
        value = check()
    except Exception as error:  # noqa: BLE001 - one broken path must not hide the others' results
        results[name] = {"error": repr(error), "traceback": traceback.format_exc()[-3000:]}
        print(f"[gpu_check] {name} FAILED: {error!r}", flush=True)
        return None
    results[name] = value
    print(f"[gpu_check] {name}: {time.perf_counter() - started:.0f} s", flush=True)
    return value


def run(device: str, assets: Path, work: Path, out: Path, tiny: bool, serve_seconds: float) -> dict[str, Any]:
    import pandas as pd

    data = assets / "sst5"
    if tiny:  # the dry run: a few hundred sentences
        small = work / "sst5"
        small.mkdir(parents=True, exist_ok=True)
        for split, rows in (("train", 300), ("dev", 100)):
            frame = pd.read_csv(data / f"{split}.csv")
            frame.sample(n=rows, random_state=0).to_csv(small / f"{split}.csv", index=False)
        data = small
    dev = [str(text) for text in pd.read_csv(data / "dev.csv")["sentence"]]
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "tiny": tiny}
    results["environment"] = environment(device)
    for shape in ("minilm", "bert-base"):
        model = random_model(shape, assets, work, tiny)
        precisions = PRECISIONS if device == "cuda" else ("fp32", "bf16")  # fp16 training needs a GPU
        for precision in precisions:
            folder = work / f"trained-{shape}-{precision}"
            trains = functools.partial(train_once, model, data, folder, device, precision)
            checked(results, f"train {shape} {precision}", trains)
    trained = work / "trained-minilm-fp32"
    if (trained / "sentscore.json").is_file():
        checked(results, "score torch", lambda: score_speed(trained, dev, device))
        checked(results, "serve", lambda: serve_speed(trained, dev, device, serve_seconds))
        checked(results, "export, scored on the CPU", lambda: export_on_cpu(trained, dev))
    model = random_model("minilm", assets, work, tiny)
    checked(results, "torchrun", lambda: torchrun_launch(model, data, work / "torchrun", device))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"[gpu_check] wrote {out}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("prepare", help="Put SST-5, the tokenizer and the wheels into .gpu/.")
    check = commands.add_parser("run", help="Run the checks.")
    check.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    check.add_argument("--tiny", action="store_true", help="A tiny model and a few hundred sentences (dry run).")
    check.add_argument("--assets", type=Path, default=ASSETS)
    check.add_argument("--work", type=Path, default=Path("/tmp/gpu_check"))
    check.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gpu_check.json")
    check.add_argument("--serve-seconds", type=float, default=15.0)
    args = parser.parse_args()
    if args.command == "prepare":
        prepare()
        return
    shutil.rmtree(args.work, ignore_errors=True)
    run(args.device, args.assets, args.work, args.out, args.tiny, args.serve_seconds)


if __name__ == "__main__":
    main()
