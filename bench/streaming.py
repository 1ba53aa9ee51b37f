"""File scoring at growing sizes: peak memory and sentences/s of `Scorer.score_file` (read, score and write in
chunks) against scoring the same file in one piece (read whole, score, write: what 0.2 did), and against
`score_file` in worker processes of one thread each (`predict --workers`), in one run.

    .venv/bin/python -m bench.streaming [--model bench/results/model] [--rows 10000 100000] [--threads 2]
        [--ways whole streaming workers] [--others-up-to ROWS] [--name streaming]
    .venv/bin/python -m bench.streaming --tiny --rows 10000 1000000 --ways streaming --name streaming_1m

``--tiny`` measures with a 2-layer, hidden-32 BERT (random, exported to int8 ONNX) instead: its scoring is
fast enough for a million rows here, so what it shows is the memory of reading, sorting and writing.

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

WAYS = ("whole", "streaming", "workers")


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
    elif way == "workers":  # as many processes as threads, one thread each (their memory is not in the peak)
        rows = scorer.score_file(source, target, show_progress=False, workers=threads).rows
    else:
        frame, texts = read_texts(source)
        write_table(scorer.add_scores(frame, scorer.predict_proba(texts)), target)
        rows = len(texts)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": rows, "seconds": seconds, "sentences_per_s": rows / seconds, "peak_rss_mb": peak_mb}


def measure(model: str, sizes: list[int], threads: int, ways: list[str], others_up_to: int) -> list[dict[str, Any]]:
    import pandas as pd

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for rows in sizes:
            source = Path(tmp) / f"rows{rows}.csv"
            build_file(source, rows)
            outputs = {}
            for way in [w for w in ways if w == "streaming" or rows <= others_up_to]:
                target = Path(tmp) / f"scored-{way}.csv"
                command = [sys.executable, "-m", "bench.streaming", "one", model, str(source), str(target), way]
                done = subprocess.run(
                    [*command, str(threads)], capture_output=True, text=True, env=offline_env(), check=True
                )
                result = {"way": way, **json.loads(done.stdout.strip().splitlines()[-1])}
                outputs[way] = pd.read_csv(target)
                results.append(result)
                print(f"[streaming] {rows} rows, {way}: {result}", flush=True)
            if "whole" not in outputs:
                continue
            whole = outputs["whole"]
            for run in results[-len(outputs) :]:
                if run["way"] == "whole":
                    continue
                # int8 ONNX quantizes each batch's activations by its own range, so other batches can move a
                # probability in its last digits; what matters is that the scores agree
                other = outputs[run["way"]]
                run["same_output"] = bool(whole.equals(other))
                run["score_agreement"] = float((whole["score"] == other["score"]).mean())
                run["max_confidence_difference"] = float((whole["confidence"] - other["confidence"]).abs().max())
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
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS))
    parser.add_argument("--tiny", action="store_true", help="Measure with a tiny random BERT (see above).")
    parser.add_argument(
        "--others-up-to", type=int, default=10**9, help="Run the ways other than streaming only up to this many rows."
    )
    parser.add_argument("--name", default="streaming", help="Result file: bench/results/NAME.json.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = tiny_model(Path(tmp)) if args.tiny else args.model
        runs = measure(model, args.rows, args.threads, args.ways, args.others_up_to)
    described = "tiny random BERT (2 layers, hidden 32), int8 ONNX" if args.tiny else args.model
    write_result(
        args.name,
        {"machine": machine(), "when": utc_now(), "model": described, "threads": args.threads, "runs": runs},
    )


def tiny_model(folder: Path) -> str:
    """A 2-layer, hidden-32 BERT with the bundled tokenizer, trained one epoch on 400 SST-5 sentences and
    exported to int8 ONNX: a real model folder whose scoring costs little."""
    import pandas as pd
    from transformers import AutoTokenizer, BertConfig, BertModel

    from sentscore import TrainConfig, train
    from sentscore.model.base import bundled_model_path
    from sentscore.scoring.export import export_onnx

    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder / "base")
    tokenizer.save_pretrained(folder / "base")
    pd.read_csv(sst5_or_examples("train")).sample(n=400, random_state=0).to_csv(folder / "train.csv", index=False)
    settings = {"model_name": str(folder / "base"), "train_file": str(folder / "train.csv"), "num_train_epochs": 1}
    train(TrainConfig(**settings, output_dir=str(folder / "model")), show_progress=False)
    export_onnx(folder / "model", quantize="int8")
    return str(folder / "model")


if __name__ == "__main__":
    main()
