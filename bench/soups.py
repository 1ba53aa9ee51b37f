"""Weight soups of the seeds' models that bench.quality kept: the models of one configuration trained with
different seeds, averaged weight by weight into one model (what ``ensemble_average: weights`` does inside training) and
scored on the dev file, beside the mean of the members.

    .venv/bin/python -m bench.soups [--only sst5_64__defaults ...]

The members of a bench.quality configuration differ in seed, which there also picks the validation split (and,
for sst5_64, the training sample), so these soups mix a little more than ``ensemble`` does; the soup is not
recalibrated (its temperature is the first member's), so ECE is left out. Writes bench/results/soups.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

from .common import RESULTS, cpu_name, utc_now
from .quality import DATASETS, MODELS, QUALITY

HEADLINE = ("accuracy", "macro_f1", "qwk", "mae")


def kept_seed_groups() -> dict[str, list[Path]]:
    """'<data>__<config slug>' -> the kept model folders of its seeds (two or more)."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for folder in sorted(MODELS.glob("*__s[0-9]*")):
        groups[folder.name.rsplit("__s", 1)[0]].append(folder)
    return {name: folders for name, folders in groups.items() if len(folders) >= 2}


def soup_of(folders: list[Path], into: Path) -> Path:
    from safetensors.torch import load_file, save_file

    from sentscore.modelfolder import WEIGHTS_FILE, ModelFolder

    shutil.copytree(folders[0], into)
    weights = [load_file(folder / WEIGHTS_FILE) for folder in folders]
    mean = {
        name: sum(w[name] for w in weights) / len(weights) if tensor.is_floating_point() else tensor
        for name, tensor in weights[0].items()
    }
    save_file(mean, into / WEIGHTS_FILE, metadata={"format": "pt"})
    ModelFolder(into).record_checksum(WEIGHTS_FILE)
    return into


def main() -> None:
    import torch

    from sentscore import evaluate

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", help="Groups to score (default: every one with 2+ kept seeds).")
    args = parser.parse_args()
    torch.set_num_threads(1)  # bench's own process, as bench.quality's runs
    rows = []
    for name, folders in kept_seed_groups().items():
        if args.only and name not in args.only:
            continue
        data = name.split("__", 1)[0]
        dev = DATASETS[data][0] / "dev.csv"
        members = [json.loads((QUALITY / f"{folder.name}.json").read_text())["dev"] for folder in folders]
        with tempfile.TemporaryDirectory() as work:
            found = evaluate(soup_of(folders, Path(work) / "soup"), dev, worst=0, backend="torch")["metrics"]
        rows.append(
            {
                "group": name,
                "seeds": [int(folder.name.rsplit("__s", 1)[1]) for folder in folders],
                "members": {key: [m[key] for m in members] for key in HEADLINE},
                "soup": {key: found[key] for key in HEADLINE},
            }
        )
        mean = {key: round(statistics.fmean(rows[-1]["members"][key]), 4) for key in HEADLINE}
        print(name, "members", mean, "soup", {k: round(v, 4) for k, v in rows[-1]["soup"].items()}, flush=True)
    out = RESULTS / "soups.json"
    out.write_text(json.dumps({"cpu": cpu_name(), "finished": utc_now(), "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
