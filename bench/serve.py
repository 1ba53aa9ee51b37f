"""Load benchmark of `sentscore serve`: dynamic batching on and off, at 1, 8 and 32 concurrent clients.

    .venv/bin/python -m bench.serve [--model bench/results/model] [--seconds 10]

Starts the server on 127.0.0.1 (a free port) in its own process, and from this process runs N clients
that each send one sentence per request, back to back, for a bounded time and request count. Reports
throughput and p50/p99 latency into bench/results/serve.json (rendered by `python -m bench.report`).
The load generator shares the machine's cores with the server, as a co-located client would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .run import RESULTS, ROOT, SST5

CONCURRENCY = (1, 8, 32)
MAX_REQUESTS_PER_LEVEL = 5000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir: Path, port: int, batching: bool) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).with_name("sentscore")),
        "serve",
        str(model_dir),
        "--port",
        str(port),
        "-q",
        "--batching" if batching else "--no-batching",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    import httpx

    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("server did not start within 120 s")


async def load(port: int, clients: int, sentences: list[str], seconds: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    url = f"http://127.0.0.1:{port}/v1/score"
    stop_at = time.perf_counter() + seconds
    rng = random.Random(clients)

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < stop_at and len(latencies) < MAX_REQUESTS_PER_LEVEL:
            started = time.perf_counter()
            response = await http.post(url, json={"sentences": [rng.choice(sentences)]})
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        await http.post(url, json={"sentences": sentences[:8]})  # warm-up
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(RESULTS / "model"), help="Trained model directory to serve.")
    parser.add_argument("--seconds", type=float, default=10.0, help="Load duration per concurrency level.")
    args = parser.parse_args()
    import pandas as pd

    data = SST5 / "dev.csv" if (SST5 / "dev.csv").is_file() else ROOT / "examples" / "data" / "dataset.csv"
    sentences = pd.read_csv(data)["sentence"].astype(str).tolist()
    results: dict[str, Any] = {
        "model": args.model,
        "data": str(data.name),
        "seconds_per_level": args.seconds,
        "runs": {},
    }
    for batching in (True, False):
        port = free_port()
        server = start_server(Path(args.model), port, batching)
        try:
            import httpx

            results["backend"] = httpx.get(f"http://127.0.0.1:{port}/v1/model").json()["backend"]
            name = "batching on" if batching else "batching off"
            results["runs"][name] = []
            for clients in CONCURRENCY:
                figures = asyncio.run(load(port, clients, sentences, args.seconds))
                print(
                    f"[serve] {name}, {clients:>2} clients: {figures['requests_per_s']:.1f} req/s, "
                    f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms",
                    flush=True,
                )
                results["runs"][name].append(figures)
        finally:
            server.terminate()
            server.wait(timeout=30)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serve.json").write_text(json.dumps(results, indent=2))
    print(f"[serve] wrote {RESULTS / 'serve.json'}; render with: python -m bench.report")


if __name__ == "__main__":
    main()
