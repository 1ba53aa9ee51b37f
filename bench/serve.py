"""Load benchmark of `sentscore serve`: dynamic batching on and off, at 1, 8 and 32 concurrent clients.

    .venv/bin/python -m bench.serve [--model bench/results/model] [--seconds 8]

For each backend the model folder offers (ONNX when exported, and PyTorch), starts the server on 127.0.0.1
(a free port) in its own process with batching on, then off, and runs N clients that each send one
sentence per request, back to back, for a bounded time. The load comes from `wrk` (Debian package `wrk`)
when it is installed, as it costs the shared 2 cores little; otherwise from Python clients in this process.
Also measures the model alone (no HTTP): sentences/s scored one at a time against batches of 32 random
sentences, which bounds what batching can gain. Writes bench/results/serve.json (rendered by
`python -m bench.report`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import PYTHON, RESULTS, offline_env, sst5_or_examples, write_result

CONCURRENCY = (1, 8, 32)
MAX_REQUESTS_PER_LEVEL = 5000
WRK_SCRIPT = """
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  return wrk.format(nil, "/v1/score", nil, bodies[(counter % #bodies) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "seconds": %f, "errors": %d, "p50_ms": %f, "p99_ms": %f}\\n',
    summary.requests, summary.duration / 1e6, e.status + e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    model_dir: Path, port: int, backend: str, batching: bool | None, extra: list[str] | None = None
) -> subprocess.Popen:
    """`sentscore serve` on 127.0.0.1:``port`` in its own process, once it answers /health; ``batching`` None
    leaves it to the server's default, ``extra`` are more flags."""
    command = [str(Path(PYTHON).with_name("sentscore")), "serve", str(model_dir), "--port", str(port), "-q"]
    command += ["--backend", backend, *(extra or [])]
    if batching is not None:
        command.append("--batching" if batching else "--no-batching")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=offline_env())
    return answering(process, port)


def answering(process: subprocess.Popen, port: int, seconds: float = 120) -> subprocess.Popen:
    """``process``, a server started on ``port`` with its stderr piped, once it answers /health."""
    import httpx

    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"server did not start within {seconds:.0f} s")


async def python_load(port: int, clients: int, sentences: list[str], seconds: float) -> dict[str, Any]:
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


def wrk_load(port: int, clients: int, script: Path, seconds: float) -> dict[str, Any]:
    command = ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "-s", str(script), f"http://127.0.0.1:{port}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    figures = json.loads(output.strip().splitlines()[-1])
    return {"clients": clients, **figures, "requests_per_s": figures["requests"] / figures["seconds"]}


def write_wrk_script(sentences: list[str], folder: Path) -> Path:
    bodies = ",\n".join("[==[" + json.dumps({"sentences": [s]}) + "]==]" for s in sentences[:1000])
    script = folder / "score.lua"
    script.write_text("local bodies = {" + bodies + "}\n" + WRK_SCRIPT)
    return script


def model_alone(model_dir: Path, backend: str, sentences: list[str], count: int = 640) -> dict[str, Any]:
    """Sentences/s of the scorer without HTTP: one sentence per call, and random batches of 32."""
    from sentscore import Scorer

    scorer = Scorer.load(model_dir, backend=backend)
    rng = random.Random(0)
    sample = [rng.choice(sentences) for _ in range(count)]
    scorer.predict_proba(sample[:32])  # warm-up
    rates = {}
    for size in (1, 32):
        started = time.perf_counter()
        for i in range(0, count, size):
            scorer.predict_proba(sample[i : i + size])
        rates[f"batch_{size}_per_s"] = count / (time.perf_counter() - started)
    return rates


def backends_of(model_dir: Path) -> list[str]:
    return (["onnx"] if any(model_dir.glob("*.onnx")) else []) + ["torch"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(RESULTS / "model"), help="Trained model directory to serve.")
    parser.add_argument("--seconds", type=float, default=8.0, help="Load duration per concurrency level.")
    parser.add_argument("--python-load", action="store_true", help="Use the Python load generator even if wrk is here.")
    args = parser.parse_args()
    import httpx
    import pandas as pd

    data = sst5_or_examples("dev")
    sentences = pd.read_csv(data)["sentence"].astype(str).tolist()
    model_dir = Path(args.model)
    use_wrk = shutil.which("wrk") is not None and not args.python_load
    results: dict[str, Any] = {
        "model": args.model,
        "data": str(data.name),
        "seconds_per_level": args.seconds,
        "load_generator": "wrk -t1 (C, one thread)" if use_wrk else "Python httpx clients",
        "model_alone": {},
        "runs": {},
    }
    scratch = Path(tempfile.mkdtemp(prefix="sentscore-bench-"))
    script = write_wrk_script(sentences, scratch)
    for backend in backends_of(model_dir):
        results["model_alone"][backend] = model_alone(model_dir, backend, sentences)
        print(f"[serve] {backend} model alone: {results['model_alone'][backend]}", flush=True)
        for batching in (True, False):
            port = free_port()
            server = start_server(model_dir, port, backend, batching)
            try:
                name = f"{backend}, batching {'on' if batching else 'off'}"
                results["runs"][name] = []
                for clients in CONCURRENCY:
                    if use_wrk:
                        httpx.post(f"http://127.0.0.1:{port}/v1/score", json={"sentences": sentences[:8]})  # warm-up
                        figures = wrk_load(port, clients, script, args.seconds)
                    else:
                        figures = asyncio.run(python_load(port, clients, sentences, args.seconds))
                    print(
                        f"[serve] {name}, {clients:>2} clients: {figures['requests_per_s']:.1f} req/s, "
                        f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms",
                        flush=True,
                    )
                    results["runs"][name].append(figures)
            finally:
                server.terminate()
                server.wait(timeout=30)
    shutil.rmtree(scratch, ignore_errors=True)
    path = write_result("serve", results)
    print(f"[serve] wrote {path}; render with: python -m bench.report")


if __name__ == "__main__":
    main()
