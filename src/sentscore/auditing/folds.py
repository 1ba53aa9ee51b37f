"""Cross-validated probabilities: every labelled row scored by a model that never saw it. The rows are split into
k stratified folds; for each, the config's recipe trains on the other folds (with its own validation split for
the epoch and the calibration) and the saved model scores the fold as ``predict`` would. Each finished fold's
probabilities are kept in the audit folder, so an interrupted audit continues where it stopped."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import atomic
from ..config import TrainConfig
from ..data import LabelledData, load_labelled, seen
from ..errors import SentscoreError

logger = logging.getLogger(__name__)

FOLDS_DIR = "folds"
PLAN_FILE = "folds.json"  # the fold of every row and what the audit is of, to check a resumed audit against


@dataclass
class Pool:
    """The labelled rows audited: those of ``train_file`` and then of ``validation_file`` (when given)."""

    data: LabelledData
    files: list[str]  # each row's file
    rows: list[int]  # each row's position in its file (0-based, as read)


def labelled_pool(config: TrainConfig) -> Pool:
    """The training file's rows, then the validation file's on the same scale: every labelled row."""
    columns = config.text_column, config.score_column
    data = load_labelled(config.train_file, *columns, config.num_labels, config.labels)
    files, rows = [config.train_file] * len(data), list(range(len(data)))
    if config.validation_file:
        more = load_labelled(config.validation_file, *columns, scale=data.scale, scale_from="the training file")
        files += [config.validation_file] * len(more)
        rows += list(range(len(more)))
        data = dataclasses.replace(data, texts=data.texts + more.texts, label_ids=data.label_ids + more.label_ids)
    return Pool(data, files, rows)


def fold_of_each_row(label_ids: list[int], labels: tuple[str, ...], folds: int, seed: int) -> np.ndarray:
    """Each row's fold, stratified by level so that every fold holds every level; a level with fewer rows than
    folds is refused with the fix."""
    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise SentscoreError(f"--folds must be at least 2, got {folds}", hint="5 is the usual choice.")
    counts = np.bincount(np.asarray(label_ids), minlength=len(labels))
    rare = [f"{labels[i]} ({n} row{'s' if n != 1 else ''})" for i, n in enumerate(counts) if 0 < n < folds]
    if rare:
        raise SentscoreError(
            f"score level{'s' if len(rare) > 1 else ''} {', '.join(rare)}: fewer rows than the {folds} folds, so "
            "some fold would hold none of them",
            hint=f"Use fewer folds (--folds {max(2, int(min(n for n in counts if n)))}), or add rows of those levels.",
        )
    fold = np.empty(len(label_ids), dtype=int)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for index, (_, tested) in enumerate(splitter.split(np.zeros(len(label_ids)), label_ids)):
        fold[tested] = index
    return fold


def fold_config(config: TrainConfig, train_csv: Path, output_dir: Path) -> TrainConfig:
    """The config that trains one fold's model: the recipe as given, on the other folds' rows (written to
    ``train_csv``), validated on its own split of them, nothing exported or tracked."""
    return dataclasses.replace(
        config,
        train_file=str(train_csv),
        validation_file=None,
        test_file=None,
        text_column="sentence",
        score_column="score",
        output_dir=str(output_dir),
        onnx_export="none",
        report_to=["none"],
        overwrite=True,
        resume=(output_dir / ".checkpoints").is_dir(),
    )


def check_auditable(config: TrainConfig) -> None:
    if config.teacher:
        raise SentscoreError(
            "audit trains each fold without the teacher: the teacher saw every row, so its distributions would "
            "carry the very labels being checked",
            hint="Leave out teacher and unlabelled_file for the audit (train with them afterwards).",
        )


def write_fold_rows(path: Path, pool: Pool, keep: np.ndarray) -> None:
    import pandas as pd

    from ..data import write_table

    labels = pool.data.scale.labels
    texts = [t for t, k in zip(pool.data.texts, keep, strict=True) if k]
    scores = [labels[i] for i, k in zip(pool.data.label_ids, keep, strict=True) if k]
    write_table(pd.DataFrame({"sentence": texts, "score": scores}), path)


def plan_record(config: TrainConfig, pool: Pool, fold: np.ndarray) -> dict[str, Any]:
    """What the folds are of: to refuse resuming an audit of other data, folds or recipe."""
    recipe = {k: v for k, v in config.to_dict().items() if k not in ("output_dir", "overwrite", "resume")}
    return {
        "labels": list(pool.data.scale.labels),
        "rows": len(pool.data),
        "data": seen.fingerprint(f"{t}\t{i}" for t, i in zip(pool.data.texts, pool.data.label_ids, strict=True)),
        "fold": fold.tolist(),
        "recipe": recipe,
    }


def check_resumable(folder: Path, record: dict[str, Any], resume: bool) -> None:
    plan = folder / PLAN_FILE
    if not plan.is_file():
        return
    if not resume:
        raise SentscoreError(
            f"{folder} holds an audit already",
            hint="Continue it with --resume, or choose another --audit-dir (or delete the folder).",
        )
    if json.loads(plan.read_text(encoding="utf-8")) != record:
        raise SentscoreError(
            f"{folder} holds an audit of other rows, folds or settings, so it cannot be continued",
            hint="Choose another --audit-dir, or delete the folder to start over.",
        )


def cross_validated_probabilities(
    config: TrainConfig,
    pool: Pool,
    folds: int,
    folder: Path,
    resume: bool = False,
    stop: threading.Event | None = None,
    on_fold: Callable[[int, float], None] | None = None,
) -> tuple[np.ndarray, list[float]]:
    """Every row's probabilities from the fold model that did not train on it, and each fold's seconds
    (``on_fold(index, seconds)`` after each). Finished folds are kept in ``folder``; with ``resume`` they are read
    back, and an interrupted fold continues from its checkpoint."""
    from ..scoring.scorer import Scorer
    from ..training.recipe import train

    fold = fold_of_each_row(pool.data.label_ids, pool.data.scale.labels, folds, config.seed)
    record = plan_record(config, pool, fold)
    check_resumable(folder, record, resume)
    (folder / FOLDS_DIR).mkdir(parents=True, exist_ok=True)
    atomic.write_text(folder / PLAN_FILE, json.dumps(record) + "\n")
    probs = np.full((len(pool.data), len(pool.data.scale)), np.nan, dtype=np.float32)
    seconds: list[float] = []
    for index in range(folds):
        done = folder / FOLDS_DIR / f"fold-{index + 1}.npz"
        tested = fold == index
        if done.is_file():
            saved = np.load(done)
            probs[tested], spent = saved["probs"], float(saved["seconds"])
        else:
            started, work = time.perf_counter(), folder / FOLDS_DIR / f"fold-{index + 1}"
            work.mkdir(exist_ok=True)
            write_fold_rows(work / "train.csv", pool, ~tested)
            logger.info(
                "Fold %d of %d: training on %d rows, then scoring %d", index + 1, folds, (~tested).sum(), tested.sum()
            )
            result = train(fold_config(config, work / "train.csv", work / "model"), show_progress=False, stop=stop)
            texts = [t for t, k in zip(pool.data.texts, tested, strict=True) if k]
            scorer = Scorer.load(result.output_dir, backend="torch")
            if scorer.scale.labels != pool.data.scale.labels:  # the levels a fold's rows gave it
                raise SentscoreError(
                    f"fold {index + 1} learnt the levels {scorer.scale.labels}, not {pool.data.scale.labels}"
                )
            probs[tested] = scorer.predict_proba(texts)
            spent = time.perf_counter() - started
            with atomic.replacing(done) as temporary, temporary.open("wb") as handle:
                np.savez(handle, probs=probs[tested], seconds=spent)
            shutil.rmtree(work, ignore_errors=True)  # the fold's model is not needed once it has scored
        seconds.append(spent)
        if on_fold is not None:
            on_fold(index, spent)
    return probs, seconds


def estimate(config: TrainConfig, folds: int) -> tuple[Pool, Any]:
    """The rows an audit would read and the dry run of its first fold's training (a fold trains on
    (k - 1) / k of the rows; an audit is ``folds`` such trainings and a scoring pass each)."""
    import tempfile

    from ..training.plan import dry_run

    check_auditable(config)
    pool = labelled_pool(config)
    fold = fold_of_each_row(pool.data.label_ids, pool.data.scale.labels, folds, config.seed)
    with tempfile.TemporaryDirectory() as work:
        write_fold_rows(Path(work) / "train.csv", pool, fold != 0)
        return pool, dry_run(fold_config(config, Path(work) / "train.csv", Path(work) / "model"))
