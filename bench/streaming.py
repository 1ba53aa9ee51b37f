"""File scoring at growing sizes: peak memory and sentences/s of `Scorer.score_file` (read, score and write in
chunks) against scoring the same file in one piece (read whole, score, write: what 0.2 did), in one run.

    .venv/bin/python -m bench.streaming [--model bench/results/model] [--rows 10000 100000] [--threads 2]

Files are built by repeating SST-5 dev sentences (the examples when SST-5 is absent), with an id column.
Each size and way runs in a fresh process so that its peak resident memory is its own. Writes
bench/results/streaming.json (rendered by `python -m bench.report`).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import RESULTS, machine, offline_env, sst5_or_examples, utc_now, write_result

WAYS = ("whole", "streaming")


def build_file(path: Path, rows: int) -> None:
    import pandas as pd

    sentences = pd.read_csv(sst5_or_examples("dev"))["sentence"].tolist()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "sentence"])
        for i in range(rows):
            writer.writerow([i, sentences[i % len(sentences)]])


def score_once(model: str, source: str, target: str, way: str, threads: int) -> dict[str, Any]:
    """In this process: load the model, score ``source`` into ``target`` one ``way``, and time it."""
    import torch

    from sentscore import Scorer
    from sentscore.data import read_texts, write_table

    torch.set_num_threads(threads)
    scorer = Scorer.load(model, num_threads=threads)
    started = time.perf_counter()
    if way == "streaming":
        rows = scorer.score_file(source, target, show_progress=False).rows
    else:
        frame, texts = read_texts(source)
        write_table(scorer.add_scores(frame, scorer.predict_proba(texts)), target)
        rows = len(texts)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": rows, "seconds": seconds, "sentences_per_s": rows / seconds, "peak_rss_mb": peak_mb}


def measure(model: str, sizes: list[int], threads: int) -> list[dict[str, Any]]:
    import pandas as pd

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for rows in sizes:
            source = Path(tmp) / f"rows{rows}.csv"
            build_file(source, rows)
            outputs = {}
            for way in WAYS:
                target = Path(tmp) / f"scored-{way}.csv"
                command = [sys.executable, "-m", "bench.streaming", "one", model, str(source), str(target), way]
                done = subprocess.run(
                    [*command, str(threads)], capture_output=True, text=True, env=offline_env(), check=True
                )
                result = {"way": way, **json.loads(done.stdout.strip().splitlines()[-1])}
                outputs[way] = pd.read_csv(target)
                results.append(result)
                print(f"[streaming] {rows} rows, {way}: {result}", flush=True)
            whole, streamed = outputs["whole"], outputs["streaming"]
            # int8 ONNX quantizes each batch's activations by its own range, so other batches can move a
            # probability in its last digits; what matters is that the scores agree
            results[-1]["same_output"] = bool(whole.equals(streamed))
            results[-1]["score_agreement"] = float((whole["score"] == streamed["score"]).mean())
            results[-1]["max_confidence_difference"] = float((whole["confidence"] - streamed["confidence"]).abs().max())
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "one":
        model, source, target, way, threads = sys.argv[2:7]
        print(json.dumps(score_once(model, source, target, way, int(threads))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(RESULTS / "model"))
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    runs = measure(args.model, args.rows, args.threads)
    write_result(
        "streaming",
        {"machine": machine(), "when": utc_now(), "model": args.model, "threads": args.threads, "runs": runs},
    )


if __name__ == "__main__":
    main()
