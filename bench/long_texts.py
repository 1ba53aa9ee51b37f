"""Long texts, simulated: a model trained on SST-5 with max_length 16 (most sentences are longer) scores SST-5
dev from its first 16 tokens (`--long-texts truncate`) and from overlapping windows (`windows`), through
`sentscore.evaluate`; and a model trained at the default max_length scores it both ways too.

    .venv/bin/python -m bench.quality run --data sst5 --config "mean, ordinal_log_loss, max_length 16" --seed 42
    .venv/bin/python -m bench.long_texts [--short-model DIR] [--default-model DIR]

Writes bench/results/long_texts.json (rendered by `python -m bench.report`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import machine, sst5_or_examples, utc_now, write_result
from .quality import MODELS

SHORT_MODEL = MODELS / "sst5__mean__ordinal_log_loss__max_length_16__s42"
DEFAULT_MODEL = MODELS / "sst5__mean__ordinal_log_loss__s43"
HEADLINE = ("accuracy", "macro_f1", "qwk", "mae")


def score_both_ways(model: str, data: str) -> dict[str, Any]:
    from sentscore import evaluate

    found: dict[str, Any] = {}
    for how in ("truncate", "windows"):
        report = evaluate(model, data, worst=0, backend="torch", long_texts=how)
        found[how] = {key: report["metrics"][key] for key in HEADLINE}
        found[how]["intervals"] = {key: report["metrics"]["intervals"].get(key) for key in HEADLINE}
        found["long_texts"] = report["long_texts"]
        found["n"] = report["metrics"]["n"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short-model", default=str(SHORT_MODEL))
    parser.add_argument("--default-model", default=str(DEFAULT_MODEL))
    args = parser.parse_args()
    data = str(sst5_or_examples("dev"))
    models = {"max_length 16": args.short_model, "max_length 128": args.default_model}
    runs = {
        name: {"model": path, **score_both_ways(path, data)}
        for name, path in models.items()
        if Path(path).is_dir() or name == "max_length 16"  # the default model is optional
    }
    write_result("long_texts", {"machine": machine(), "when": utc_now(), "data": data, "runs": runs})
    for name, run in runs.items():
        print(name, {how: run[how] for how in ("truncate", "windows")}, run["long_texts"])


if __name__ == "__main__":
    main()
