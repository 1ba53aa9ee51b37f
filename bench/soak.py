"""Soak test of `sentscore serve` under overload: 64 concurrent clients for 60 s on 127.0.0.1, one in eight
sending the largest body the server allows, the rest one sentence each.

    .venv/bin/python -m bench.soak [--model bench/results/model] [--seconds 60] [--clients 64]

Reports throughput, latency percentiles, how many requests got 503 (the bounded queue refusing at once) and
the server's resident memory sampled every second (it must stay flat, not grow). Loopback only; the load is
bounded in time and in requests. Writes bench/results/soak.json (rendered by `python -m bench.report`).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import RESULTS, sst5_or_examples, utc_now, write_result
from .serve import free_port, start_server

MAX_REQUESTS = 200_000
#: The server's limits in this test (the defaults, but a smaller queue so that overload shows within a minute).
LIMITS = {"max_queue": 32, "request_timeout_s": 10, "max_sentences": 256, "max_chars": 2000}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def largest_body(sentences: list[str]) -> dict[str, Any]:
    """As many sentences as a request may hold, each as long as allowed, within the body limit."""
    long = [(s * (LIMITS["max_chars"] // max(1, len(s)) + 1))[: LIMITS["max_chars"] // 2] for s in sentences[:64]]
    return {"sentences": long[:64]}


async def soak(port: int, clients: int, seconds: float, sentences: list[str], pid: int) -> dict[str, Any]:
    import httpx

    url = f"http://127.0.0.1:{port}/v1/score"
    big = largest_body(sentences)
    latencies: list[float] = []
    counts = {"ok": 0, "503": 0, "other": 0, "errors": 0}
    memory: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def client(number: int, http: httpx.AsyncClient) -> None:
        rng = random.Random(number)
        while time.perf_counter() < stop_at and sum(counts.values()) < MAX_REQUESTS:
            body = big if number % 8 == 0 else {"sentences": [rng.choice(sentences)]}
            started = time.perf_counter()
            try:
                response = await http.post(url, json=body)
            except httpx.HTTPError:
                counts["errors"] += 1
                continue
            key = "ok" if response.status_code == 200 else "503" if response.status_code == 503 else "other"
            counts[key] += 1
            if key == "ok":
                latencies.append(time.perf_counter() - started)
            elif key == "503":
                await asyncio.sleep(float(response.headers.get("retry-after", "1")) / 10)

    async def sample_memory() -> None:
        while time.perf_counter() < stop_at:
            memory.append(rss_mb(pid))
            await asyncio.sleep(1.0)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        started = time.perf_counter()
        await asyncio.gather(sample_memory(), *(client(n, http) for n in range(clients)))
        elapsed = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    third = max(1, len(memory) // 3)
    return {
        "clients": clients,
        "seconds": elapsed,
        **counts,
        "answered_per_s": counts["ok"] / elapsed,
        "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
        "p99_ms": float(np.percentile(ms, 99)) if len(ms) else None,
        "rss_mb": memory,
        "rss_first_third_mb": statistics.fmean(memory[:third]),
        "rss_last_third_mb": statistics.fmean(memory[-third:]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(RESULTS / "model"), help="Trained model directory to serve.")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    import pandas as pd

    sentences = pd.read_csv(sst5_or_examples("dev"))["sentence"].astype(str).tolist()
    port = free_port()
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in LIMITS.items()]
    server = start_server(Path(args.model), port, args.backend, batching=None, extra=flags)
    try:
        result = asyncio.run(soak(port, args.clients, args.seconds, sentences, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)
    result.update(started=utc_now(), limits=LIMITS, backend=args.backend, model=args.model)
    print(
        f"[soak] {result['ok']} answered ({result['answered_per_s']:.1f}/s), {result['503']} refused with 503, "
        f"{result['other']} other, {result['errors']} connection errors; p99 {result['p99_ms']} ms; RSS "
        f"{result['rss_first_third_mb']:.0f} MB -> {result['rss_last_third_mb']:.0f} MB",
        flush=True,
    )
    write_result("soak", result)


if __name__ == "__main__":
    main()
