"""``audit()``: the labelled rows whose score is probably wrong, most suspect first.

Every row gets probabilities from a model that never saw it (k-fold cross-validation of the config's recipe, or
one trained model on a file it was not trained on); cleanlab ranks the rows by how likely their given score is
wrong and flags the likely errors (:mod:`.ranking`); the table, a summary and a plot are written (:mod:`.report`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import TrainConfig
from ..data import load_labelled
from .folds import Pool, check_auditable, cross_validated_probabilities, labelled_pool
from .ranking import rank, summary
from .report import check_outputs, input_rows, issues_table, write_report

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_FOLDS", "AuditResult", "audit"]

logger = logging.getLogger(__name__)

#: Folds of the cross-validation: each row is scored by a model trained on the other 80% (cleanlab's own default).
DEFAULT_FOLDS = 5
ISSUES_FILE = "label_issues.csv"


@dataclass
class AuditResult:
    """The table of rows (most suspect first), the summary, and where they were written."""

    table: pd.DataFrame
    summary: dict[str, Any]
    output: Path
    folder: Path


def audit(
    source: TrainConfig | str | Path,
    data_file: str | Path | None = None,
    *,
    folds: int = DEFAULT_FOLDS,
    audit_dir: str | Path = "audit",
    output: str | Path | None = None,
    cleaned: str | Path | None = None,
    resume: bool = False,
    show_progress: bool = True,
    stop: threading.Event | None = None,
    text_column: str = "sentence",
    score_column: str = "score",
    backend: str = "auto",
) -> AuditResult:
    """Find the rows whose score is probably wrong.

    ``source`` a :class:`TrainConfig`: its labelled rows (``train_file``, then ``validation_file``) are split into
    ``folds`` stratified folds and each fold is scored by the config's recipe trained on the others; finished
    folds are kept in ``audit_dir``, and ``resume`` continues an interrupted audit (``stop`` interrupts it after
    the current training step, keeping the finished folds). ``source`` a model folder: the labelled ``data_file``
    (``text_column``, ``score_column``) is scored by that model (say, a new batch of labels); the summary says how
    many of its sentences the model trained or validated on.

    Writes the table to ``output`` (default ``audit_dir/label_issues.csv``; CSV, TSV or JSONL), ``summary.json``
    and ``given_vs_suggested.png`` to ``audit_dir``, and with ``cleaned`` the audited rows without the flagged
    ones, in the input's order and columns.
    """
    started = time.perf_counter()
    folder = Path(audit_dir)
    output = Path(output) if output is not None else folder / ISSUES_FILE
    cleaned = Path(cleaned) if cleaned is not None else None
    if isinstance(source, TrainConfig):
        read = [source.train_file, source.validation_file, source.test_file, source.unlabelled_file]
        check_outputs(output, cleaned, [each for each in read if each])
        source.validate()
        check_auditable(source)
        pool, text_column = labelled_pool(source), source.text_column
        ordered = pool.data.scale.is_numeric or source.labels is not None
        on_fold = _fold_logger(folds) if show_progress else None
        probs, seconds = cross_validated_probabilities(source, pool, folds, folder, resume, stop, on_fold)
        how = {"probabilities": f"{folds}-fold cross-validation of the config's recipe", "folds": folds}
        how["fold_seconds"] = [round(s, 1) for s in seconds]
    else:
        check_outputs(output, cleaned, [data_file] if data_file else [])
        pool, probs, how = _scored_by_model(source, data_file, text_column, score_column, backend)
        ordered = pool.data.scale.is_numeric
    ranking = rank(probs, pool.data.label_ids, pool.data.scale, ordered)
    found = {**summary(ranking, pool.data.label_ids, pool.data.scale), **how}
    found["seconds"] = round(time.perf_counter() - started, 1)
    inputs = input_rows(pool, text_column)
    table = issues_table(pool, ranking, probs, inputs)
    kept = (cleaned, inputs[~ranking.flagged]) if cleaned is not None else None
    write_report(folder, table, found, pool.data.scale, output, kept)
    return AuditResult(table, found, output, folder)


def _scored_by_model(
    model_dir: str | Path, data_file: str | Path | None, text_column: str, score_column: str, backend: str
) -> tuple[Pool, Any, dict[str, Any]]:
    from ..errors import SentscoreError
    from ..evaluation import held_out
    from ..scoring.scorer import Scorer

    if data_file is None:
        raise SentscoreError("auditing with a trained model needs a labelled data file", hint="audit(MODEL, FILE)")
    scorer = Scorer.load(model_dir, backend=backend)
    data = load_labelled(data_file, text_column, score_column, scale=scorer.scale)
    overlap = held_out(data.texts, scorer)
    if overlap["known"] and overlap["held_out"] < overlap["sentences"]:
        logger.warning(
            "%s: %d of its %d sentences were trained on and %d validated on by %s; their probabilities are not held "
            "out, so their errors look smaller than they are",
            data_file,
            overlap["trained_on"],
            overlap["sentences"],
            overlap["validated_on"],
            model_dir,
        )
    probs = scorer.predict_proba(data.texts)
    how = {"probabilities": f"the model {model_dir} ({scorer.scored_with})", "held_out": overlap}
    return Pool(data, [str(data_file)] * len(data), list(range(len(data)))), probs, how


def _fold_logger(folds: int) -> Any:
    """A callback that logs each finished fold (the folds' trainings show no bars of their own)."""

    def done(index: int, seconds: float) -> None:
        logger.info("Fold %d of %d done in %.0f s", index + 1, folds, seconds)

    return done
