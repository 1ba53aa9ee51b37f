"""Ray, for more than one machine: score a Ray Dataset with one model load per actor (``score_dataset``), score
files into a folder (``score_files``, what ``sentscore predict --engine ray`` runs), and train with Ray Train's
TorchTrainer around the same Trainer recipe (``train_on_ray``), which writes the same model folder. Needs the
``ray`` extra: ``pip install "sentscore[ray]"``. Connecting to a cluster (``ray.init``) is the caller's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import atomic
from ..config import TrainConfig
from ..errors import SentscoreError
from ..model.folder import ModelFolder
from ..scoring.backends import check_backend, check_long_texts

#: Input files the ray engine reads, by suffix, and the format each is written back in.
READERS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".jsonl": "json", ".json": "json"}
ROWS_PER_BATCH = 1024  # rows a Ray task hands an actor at once; the scorer batches them again by length


def require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise SentscoreError(
            "The ray engine needs Ray, which is not installed", hint='Install it with: pip install "sentscore[ray]"'
        ) from None
    return ray


def connect() -> Any:
    """Ray, connected to the cluster of RAY_ADDRESS (`ray start --head` prints it), else to a new local instance;
    a process already connected stays as it is. For the CLI, which owns its process."""
    ray = require_ray()
    if not ray.is_initialized():
        ray.init()
    return ray


class ScoreBatches:
    """What one Ray actor runs: the model loads once, in ``__init__``, then every batch (a pandas frame) gets
    ``score``, ``confidence`` and ``expected_score`` columns (and ``prob_<label>``, ``set_low``, ``set_high`` and
    ``set_levels``), exactly as :meth:`sentscore.Scorer.score_file` adds them. Rows with a blank text keep empty
    score cells."""

    def __init__(
        self,
        model_dir: str,
        text_column: str,
        backend: str,
        long_texts: str,
        with_probs: bool,
        set_coverage: float | None,
        num_threads: int | None,
    ) -> None:
        from ..scoring.scorer import Scorer

        self.text_column, self.with_probs, self.set_coverage = text_column, with_probs, set_coverage
        self.scorer = Scorer.load(model_dir, backend=backend, num_threads=num_threads, long_texts=long_texts)
        if self.scorer.backend == "torch" and num_threads:
            import torch

            torch.set_num_threads(num_threads)  # the actor's process is sentscore's own, sized to its CPUs

    def __call__(self, batch: Any) -> Any:
        from ..data import blank_positions

        column = batch[self.text_column]
        blank = set(blank_positions(column))
        positions = [i for i in range(len(column)) if i not in blank]
        probs = self.scorer.predict_proba([str(column.iloc[i]) for i in positions])
        frame = batch.reset_index(drop=True)
        return self.scorer.add_scores(frame, probs, self.with_probs, self.set_coverage, positions)


def score_dataset(
    dataset: Any,
    model_dir: str | Path,
    text_column: str = "sentence",
    *,
    backend: str = "auto",
    long_texts: str = "windows",
    with_probs: bool = False,
    set_coverage: float | None = None,
    actors: int | None = None,
    cpus_per_actor: float = 1,
    gpus_per_actor: float = 0,
    rows_per_batch: int = ROWS_PER_BATCH,
) -> Any:
    """``dataset`` (a Ray Dataset with a ``text_column``) with the scores added, computed lazily by a pool of
    ``actors`` (default: as many as the cluster's CPUs, or GPUs with ``gpus_per_actor``, allow), each loading
    ``model_dir`` once; every node must see ``model_dir`` (a shared file system). Row order is kept only when
    the caller's Ray DataContext asks for it (``execution_options.preserve_order``)."""
    ray = require_ray()
    check_backend(backend)
    check_long_texts(long_texts)
    ModelFolder(model_dir).check(need_weights=False)  # before any actor starts, a clear error here
    found = dataset.columns()
    if text_column not in found:
        raise SentscoreError(
            f"The data has no column '{text_column}' (it has: {', '.join(found)})",
            hint="Name the column that holds the text with --text-column.",
        )
    if actors is None:
        resources = ray.cluster_resources()
        unit, each = ("GPU", gpus_per_actor) if gpus_per_actor else ("CPU", cpus_per_actor)
        actors = max(1, int(resources.get(unit, 1) // each))
    return dataset.map_batches(
        ScoreBatches,
        fn_constructor_kwargs={
            "model_dir": str(Path(model_dir).resolve()),
            "text_column": text_column,
            "backend": backend,
            "long_texts": long_texts,
            "with_probs": with_probs,
            "set_coverage": set_coverage,
            "num_threads": max(1, int(cpus_per_actor)),
        },
        batch_size=rows_per_batch,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
        num_cpus=cpus_per_actor,
        num_gpus=gpus_per_actor or None,
    )


@dataclass(frozen=True)
class ScoredFiles:
    output_dir: Path
    rows: int
    file_format: str
    blank: int = 0  # rows whose text was blank: their score cells are empty


def score_files(
    model_dir: str | Path,
    inputs: list[str | Path],
    output_dir: str | Path,
    text_column: str = "sentence",
    **scoring: Any,
) -> ScoredFiles:
    """Score CSV/TSV/Parquet/JSONL files, or folders of them, into ``output_dir`` (CSV for CSV/TSV input,
    Parquet otherwise), with :func:`score_dataset` on the Ray cluster the caller connected to. The folder
    appears whole or not at all: it is written beside, in a new hidden folder, and renamed when done."""
    output_dir = Path(output_dir)
    if output_dir.exists():
        raise SentscoreError(f"--output {output_dir} already exists", hint="Give a new folder for the scored files.")
    files, reader = input_files(inputs)
    dataset = read_dataset(files, reader)
    rows = dataset.count()
    scored = score_dataset(dataset, model_dir, text_column, **scoring)
    written = "csv" if reader == "csv" else "parquet"
    with atomic.staged_folder(output_dir) as partial:
        getattr(scored, f"write_{written}")(str(partial.resolve()))
        blank = _unscored_rows(partial, written)
    return ScoredFiles(output_dir, rows, written, blank)


def _unscored_rows(folder: Path, written: str) -> int:
    """Rows of the scored files in ``folder`` whose score cell is empty (their text was blank): one more read
    of the score column alone, small beside the scoring."""
    import pyarrow.dataset as ds

    file_format: Any = written
    if written == "csv":
        import pyarrow as pa
        from pyarrow import csv

        # read as text in every file (one file's empty column would otherwise be typed apart); "" is empty
        convert = csv.ConvertOptions(column_types={"score": pa.string()}, strings_can_be_null=True)
        file_format = ds.CsvFileFormat(convert_options=convert)
    table = ds.dataset(str(folder), format=file_format).to_table(columns=["score"])
    return table.column("score").null_count


def input_files(inputs: list[str | Path]) -> tuple[list[Path], str]:
    """The files named, folders opened (their readable files), and the one format they share."""
    files: list[Path] = []
    for given in map(Path, inputs):
        if given.is_dir():
            files += sorted(p for p in given.iterdir() if p.suffix.lower() in READERS)
        elif given.is_file():
            files.append(given)
        else:
            raise SentscoreError(f"Input not found: {given}", hint="Give files or folders that exist.")
    if not files:
        raise SentscoreError(
            f"No file to score in {', '.join(map(str, inputs))}", hint=f"Give {', '.join(READERS)} files."
        )
    readers = {READERS.get(p.suffix.lower()) for p in files}
    if None in readers or len(readers) > 1:
        found = sorted({p.suffix or p.name for p in files})
        raise SentscoreError(
            f"The ray engine reads files of one format, got {', '.join(found)}",
            hint=f"Give only {' or '.join(sorted(set(READERS)))} files, all of one kind.",
        )
    return files, readers.pop()


def read_dataset(files: list[Path], reader: str) -> Any:
    """A Ray Dataset over ``files`` (tab-separated for .tsv)."""
    ray = require_ray()
    paths = [str(p.resolve()) for p in files]
    if reader == "csv" and all(p.endswith(".tsv") for p in paths):
        from pyarrow import csv

        return ray.data.read_csv(paths, parse_options=csv.ParseOptions(delimiter="\t"))
    return getattr(ray.data, f"read_{reader}")(paths)


# ---- training ----------------------------------------------------------------------------------------------


def train_on_ray(
    config: TrainConfig, workers: int = 2, use_gpu: bool = False, storage_path: str | Path | None = None
) -> dict[str, Any]:
    """Train ``config`` with Ray Train: a TorchTrainer runs the same Trainer recipe in ``workers`` processes
    (gloo on CPUs, NCCL on GPUs), the Trainer prepared with ``prepare_trainer`` and reporting each epoch with
    ``RayTrainReportCallback``; only the first worker writes ``config.output_dir``, which must be on a file
    system the driver sees. Returns the last metrics reported (Ray's own checkpoints go to ``storage_path``,
    default Ray's). The caller connects to the cluster first (``ray.init``)."""
    require_ray()
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    config.validate()
    ModelFolder(config.output_dir).check_can_write(config.overwrite)  # before any worker starts
    output_dir = str(Path(config.output_dir).resolve())
    loop_config = {"config": {**config.to_dict(), "output_dir": output_dir}}
    run_config = RunConfig(name=Path(output_dir).name, storage_path=str(storage_path) if storage_path else None)
    trainer = TorchTrainer(
        train_worker,
        train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
        run_config=run_config,
    )
    result = trainer.fit()
    return dict(result.metrics or {})


def train_worker(loop_config: dict[str, Any]) -> None:
    """One Ray Train worker: the recipe of :func:`sentscore.train`, its Trainer prepared for Ray."""
    from ray.train.huggingface.transformers import RayTrainReportCallback, prepare_trainer

    from ..training.recipe import train

    config = TrainConfig.from_dict(loop_config["config"], source="Ray Train")
    train(config, show_progress=False, callbacks=[RayTrainReportCallback()], prepare=prepare_trainer)


__all__ = ["ScoreBatches", "score_dataset", "score_files", "train_on_ray"]
