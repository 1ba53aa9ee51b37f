"""Scoring: load a trained folder once, score sentences in length-sorted batches on the fastest backend it offers."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data import RowsToScore, ScoreScale
from ..data.inputs import sentences_in
from ..data.writers import keeping_input_columns
from ..errors import SentscoreError
from ..model.conformal import check_coverage, describe, score_sets, threshold
from ..model.folder import TOKENIZER_FILE, WEIGHTS_FILE, ModelFolder, ModelInfo
from ..model.objectives import Objective, objective_from_record
from .backends import (
    DEFAULT_BATCH_SIZE,
    SPECIAL_TOKENS,
    Runner,
    check_long_texts,
    load_runner,
    load_tokenizer,
    run_in_batches,
    scoring_backend,
    window_overlap,
)
from .explain import WordWeight
from .openvino_backend import OPENVINO_CALL_BATCHES
from .prediction import Prediction

logger = logging.getLogger(__name__)

#: Rows of a file read, scored and written at a time: memory stays flat in the file's length, and a chunk is
#: long enough for length-sorted batches to pad little.
FILE_CHUNK_ROWS = 8192


class Scorer:
    """A trained model ready to score sentences.

    >>> scorer = Scorer.load("models")                       # doctest: +SKIP
    >>> scorer.predict(["Great food, slow service."])[0].score  # doctest: +SKIP
    4
    """

    def __init__(
        self,
        folder: ModelFolder,
        objective: Objective,
        tokenizer: Any,
        run: Runner,
        backend: str,
        batch_size: int,
        long_texts: str = "windows",
        onnx_file: str | None = None,
        device: str = "cpu",
    ):
        self.long_texts = long_texts
        self.device = device  # where the model scores: "cpu", or a GPU with the torch backend
        self.onnx_file = onnx_file  # the export it scores with (None: PyTorch), which worker processes load too
        self.folder = folder
        self.objective = objective
        self.backend = backend
        self.batch_size = batch_size
        self._tokenizer = tokenizer
        self._run = run
        self._conformal_scores: list[float] | None = None  # read when score sets are first asked for

    @property
    def scored_with(self) -> str:
        """The file that scores: the ONNX export's name, or the PyTorch weights'."""
        return self.onnx_file or WEIGHTS_FILE

    @property
    def model_dir(self) -> Path:
        return self.folder.path

    @property
    def info(self) -> ModelInfo:
        return self.folder.info()

    @property
    def scale(self) -> ScoreScale:
        return self.info.scale

    @property
    def max_length(self) -> int:
        return self.info.max_length

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        backend: str = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
        num_threads: int | None = None,
        onnx_file: str | None = None,
        long_texts: str = "windows",
        device: str = "cpu",
    ) -> Scorer:
        """Load ``model_dir`` once. ``backend="auto"`` uses an exported ONNX model when there is one (int8
        first), else the PyTorch weights. The window length (max_length) and objective come from the trained
        model. A text longer than max_length tokens is scored, with ``long_texts="windows"``, from overlapping
        windows whose distributions are averaged, or with "truncate" from its first window only.
        ``num_threads`` sizes the ONNX Runtime session; PyTorch uses the process's own setting. ``device``
        "cuda" or "mps" scores with the PyTorch weights on that GPU ("auto": on one when there is one); the
        ONNX exports score on the CPU."""
        backend, device = scoring_backend(backend, device, onnx_file)
        if batch_size < 1:
            raise SentscoreError(f"the batch size must be at least 1, got {batch_size}", hint="e.g. --batch-size 32")
        folder = ModelFolder(model_dir)
        onnx_path = folder.onnx_file(backend, onnx_file) if folder.path.is_dir() else None
        folder.check(need_weights=onnx_path is None)
        info = folder.info()
        objective = objective_from_record(info.objective, len(info.labels), info.objective_params)
        check_long_texts(long_texts)
        tokenizer = load_tokenizer(folder.file(TOKENIZER_FILE), info.max_length, window_overlap(info.max_length))
        run, chosen = load_runner(folder, backend, onnx_path, num_threads, device, batch_size)
        logger.debug("Scoring with %s (%s) in %s", onnx_path.name if onnx_path else WEIGHTS_FILE, chosen, folder.path)
        onnx_file = onnx_path.name if onnx_path is not None else None
        return cls(folder, objective, tokenizer, run, chosen, batch_size, long_texts, onnx_file, device)

    def predict_proba(
        self,
        texts: Sequence[str] | str,
        progress: Callable[[int], None] | None = None,
        blank_rows: str = "fail",
    ) -> np.ndarray:
        """Probabilities, shape (len(texts), number of labels), in input order; a single string is one
        sentence. ``texts`` may be a list, a tuple, a pandas Series or a numpy array of strings. A blank or
        missing one (None, NaN) has nothing to score: with ``blank_rows`` "fail" (the default) it is refused,
        naming its position; with "skip" its row is NaN; with "drop" it has no row. A value that is not text
        is refused."""
        given = sentences_in(texts, blank_rows)
        probs = self._probabilities(given.to_score, progress)
        if blank_rows == "drop" or not given.blank:
            return probs
        full = np.full((len(given.texts), len(self.scale)), np.nan, dtype=np.float32)
        full[given.positions] = probs
        return full

    def _probabilities(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """The probabilities of texts that are all non-blank strings."""
        if not texts:
            return np.zeros((0, len(self.scale)), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        read_whole = self.long_texts == "windows"
        windows = [[encoding, *encoding.overflowing] if read_whole else [encoding] for encoding in encodings]
        flat = [window for each in windows for window in each]
        share = len(texts) / len(flat)  # progress counts texts, not windows

        def advance(windows_done: int) -> None:
            if progress is not None:
                progress(windows_done * share)

        per_call = self.batch_size * (OPENVINO_CALL_BATCHES if self.backend == "openvino" else 1)
        probs = self.objective.probabilities(run_in_batches(self._run, flat, per_call, advance))
        if len(flat) > len(texts):  # some text was read in several windows
            probs = combine_windows(probs, windows)
        return probs.astype(np.float32)

    def long_text_count(self, texts: Sequence[str]) -> int:
        """How many of ``texts`` are longer than the model's max_length tokens."""
        return sum(bool(encoding.overflowing) for encoding in self._tokenizer.encode_batch([str(t) for t in texts]))

    def predict(
        self, texts: Sequence[str] | str, set_coverage: float | None = None, blank_rows: str = "fail"
    ) -> list[Prediction]:
        """Score each sentence, one :class:`Prediction` per sentence in order; a single string is treated as
        one sentence. ``set_coverage`` (e.g. 0.9) adds each sentence's conformal score set. Blank or missing
        sentences as :meth:`predict_proba` treats them (with "skip", a Prediction whose ``blank`` is true)."""
        given = sentences_in(texts, blank_rows)  # checked before the score sets are read
        if set_coverage is not None:
            check_coverage(set_coverage)
            self.require_score_sets()  # before scoring, not after
        return self.predictions_from_probs(self.predict_proba(given.texts, blank_rows=blank_rows), set_coverage)

    def predictions_from_probs(self, probs: np.ndarray, set_coverage: float | None = None) -> list[Prediction]:
        """A :class:`Prediction` per row of ``probs``; a NaN row (a blank sentence skipped) gives a blank one."""
        scale = self.scale
        blank = np.isnan(probs).any(axis=1)
        if blank.any():  # the other rows' answers are computed as if the blank ones were not there
            probs = np.where(blank[:, None], 1.0 / probs.shape[1], probs)
        values = np.asarray(scale.values) if scale.is_numeric else None
        expected = probs @ values if values is not None else [None] * len(probs)
        best = probs.argmax(axis=1)
        if set_coverage is not None:
            self.require_score_sets()
        masks = self.score_sets(probs, set_coverage) if set_coverage is not None else [None] * len(probs)
        return [
            Prediction(None, None, None)
            if is_blank
            else Prediction(
                score=scale.parse(scale.labels[b]),
                confidence=float(p[b]),
                expected_score=None if e is None else float(e),
                probs={label: float(x) for label, x in zip(scale.labels, p, strict=True)},
                score_set=None if mask is None else tuple(scale.parse(scale.labels[j]) for j in np.flatnonzero(mask)),
                set_text=None if mask is None else describe(mask, scale.labels),
            )
            for p, b, e, mask, is_blank in zip(probs, best, expected, masks, blank, strict=True)
        ]

    def explain(self, texts: Sequence[str] | str, blank_rows: str = "fail") -> list[list[WordWeight] | None]:
        """Each sentence's words with how much each moved its score (occlusion: scored again without it). Blank
        or missing sentences as :meth:`predict_proba` treats them (with "skip", None in their place)."""
        from .explain import occlusion_weights

        given = sentences_in(texts, blank_rows)
        explained = iter(occlusion_weights(given.to_score, self._probabilities, self.weigh))
        if blank_rows == "drop":
            return list(explained)
        blank = set(given.blank)
        return [None if i in blank else next(explained) for i in range(len(given.texts))]

    def weigh(self, probs: np.ndarray, variant_probs: np.ndarray) -> np.ndarray:
        """Word weights from a sentence's probabilities and those of its variants without each word: the change
        in expected score (or, for a scale without numbers, in the predicted label's probability)."""
        from .explain import expected_score_change, top_label_change

        values = self.scale.values
        if values is None:
            return top_label_change(probs, variant_probs)
        return expected_score_change(probs, variant_probs, np.asarray(values))

    def score_sets(self, probs: np.ndarray, coverage: float) -> np.ndarray | None:
        """Each sentence's conformal set at ``coverage`` as a mask over the levels, shape (n, levels), grown
        as the folder's conformal scores were (:meth:`ModelFolder.conformal_method`); None for a model trained
        without conformal scores."""
        check_coverage(coverage)
        scores = self._held_out_scores()
        return score_sets(probs, threshold(scores, coverage), self.folder.conformal_method()) if scores else None

    def require_score_sets(self) -> None:
        """Raise when the model has no conformal scores to make score sets from."""
        if not self._held_out_scores():
            raise SentscoreError(
                f"{self.model_dir} has no conformal scores, so it cannot give score sets",
                hint="Train it again with this sentscore (0.2 or later), which records them.",
            )

    def _held_out_scores(self) -> list[float]:
        if self._conformal_scores is None:
            self._conformal_scores = self.folder.conformal_scores() or []
        return self._conformal_scores

    def score_file(
        self,
        input_path: str | Path,
        output_path: str | Path,
        text_column: str = "sentence",
        with_probs: bool = False,
        show_progress: bool = True,
        set_coverage: float | None = None,
        blank_rows: str = "skip",
        safe_for_spreadsheets: bool = False,
        chunk_rows: int = FILE_CHUNK_ROWS,
        workers: int = 1,
    ) -> RowsToScore:
        """Score every row of a CSV/TSV/JSONL/text file and write it with ``score``, ``confidence``,
        ``expected_score`` (and ``prob_<label>``, ``set_low``/``set_high``/``set_levels`` columns) added,
        keeping every input column and the order. The file is read, scored and written ``chunk_rows`` rows at a
        time, so memory does not grow with its length; a first pass checks it whole before anything is scored.
        Rows with a blank text are not scored (``blank_rows``: skip leaves their cells empty, drop leaves them out, fail
        stops before scoring); the result names them. The output file is written whole or not at all;
        ``safe_for_spreadsheets`` neutralises cells a spreadsheet would run as formulas. ``workers`` > 1 scores
        each chunk in that many processes, each with its own copy of the model and one thread."""
        from ..data import iter_table, scan_rows_to_score, table_format, table_writer

        input_path, output_path = Path(input_path), Path(output_path)
        table_format(output_path)  # a format it cannot write is refused before anything is read
        if output_path.resolve() == input_path.resolve():
            raise SentscoreError(
                f"--output {output_path} is the input file", hint="Write the scores to a new file so the input is kept."
            )
        if set_coverage is not None:
            check_coverage(set_coverage)
            self.require_score_sets()
        found = scan_rows_to_score(input_path, text_column, blank_rows, chunk_rows)
        blank, offset, kept = set(found.blank), 0, {}
        with (
            self._file_scoring(workers) as predict_proba,
            progress_bar(found.rows - len(blank), show_progress) as advance,
            table_writer(output_path, safe_for_spreadsheets) as write,
        ):
            for chunk in iter_table(input_path, text_column, chunk_rows, check_quotes=False):  # the scan did
                skipped = {i for i in range(len(chunk)) if offset + i in blank}
                offset += len(chunk)
                if blank_rows == "drop":
                    chunk, skipped = chunk.drop(index=sorted(skipped)).reset_index(drop=True), set()
                positions = [i for i in range(len(chunk)) if i not in skipped]
                column = chunk[text_column].tolist()
                texts = [str(column[i]) for i in positions]
                probs = predict_proba(texts, progress=advance)
                scored = self.add_scores(chunk, probs, with_probs, set_coverage, positions)
                kept |= {old: new for old, new in zip(chunk.columns, scored.columns, strict=False) if old != new}
                write(scored)
        if kept:
            said = ", ".join(f"'{old}' as '{new}'" for old, new in kept.items())
            logger.warning("%s: kept the file's own %s, beside the new scores", input_path, said)
        return found

    @contextlib.contextmanager
    def _file_scoring(self, workers: int) -> Iterator[Callable[..., np.ndarray]]:
        """``predict_proba`` of this process, or of a pool of ``workers`` processes."""
        if workers < 1:
            raise SentscoreError(f"workers must be at least 1, got {workers}")
        if workers == 1:
            yield self.predict_proba
            return
        from .workers import ScoringPool

        load = functools.partial(
            type(self).load,
            str(self.model_dir),
            backend=self.backend,
            onnx_file=self.onnx_file,
            long_texts=self.long_texts,
            batch_size=self.batch_size,
            num_threads=1,
        )
        with ScoringPool(load, workers, len(self.scale), one_torch_thread=self.backend == "torch") as pool:
            yield pool.predict_proba

    def add_scores(
        self,
        frame: Any,
        probs: np.ndarray,
        with_probs: bool = False,
        set_coverage: float | None = None,
        positions: Sequence[int] | None = None,
    ) -> Any:
        """A copy of ``frame`` with ``score``, ``confidence``, ``expected_score`` (and ``prob_<label>``, and
        the conformal set's ``set_low``, ``set_high`` and ``set_levels`` (``1|5``) at ``set_coverage``) added
        after its columns (one of its own of such a name is kept as ``input_<name>``); ``probs`` are those of the rows
        at ``positions`` (default: every row), and the other rows' cells stay empty."""
        predictions = self.predictions_from_probs(probs, set_coverage)
        positions = list(range(len(frame))) if positions is None else list(positions)
        columns: dict[str, list[Any]] = {
            "score": [p.score for p in predictions],
            "confidence": [round(p.confidence, 6) for p in predictions],
        }
        if self.scale.is_numeric:
            columns["expected_score"] = [round(p.expected_score, 6) for p in predictions]
        if set_coverage is not None:
            columns["set_low"] = [p.score_set[0] for p in predictions]
            columns["set_high"] = [p.score_set[-1] for p in predictions]
            columns["set_levels"] = ["|".join(map(str, p.score_set)) for p in predictions]
        if with_probs:
            for j, label in enumerate(self.scale.labels):
                columns[f"prob_{label}"] = [round(float(x), 6) for x in probs[:, j]]
        frame = keeping_input_columns(frame.copy(), columns)
        for name, values in columns.items():
            cells: list[Any] = [None] * len(frame)
            for position, value in zip(positions, values, strict=True):
                cells[position] = value
            frame[name] = _object_column(cells, frame.index)
        return frame


def combine_windows(window_probs: np.ndarray, windows: list[list[Any]]) -> np.ndarray:
    """Each text's distribution: the mean of its windows' distributions, weighted by the tokens each window
    reads (a short last window counts for less); ``window_probs`` are in the order of the flattened windows."""
    combined = np.empty((len(windows), window_probs.shape[1]), dtype=np.float64)
    start = 0
    for index, each in enumerate(windows):
        tokens = np.array([max(1, sum(w.attention_mask) - SPECIAL_TOKENS) for w in each], dtype=np.float64)
        combined[index] = tokens @ window_probs[start : start + len(each)] / tokens.sum()
        start += len(each)
    return combined


@contextlib.contextmanager
def progress_bar(total: int, show: bool, title: str = "Scoring") -> Iterator[Callable[[int], None] | None]:
    """A progress bar with the time remaining on standard error, advanced by the callback it yields (None when
    not shown)."""
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(title), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    # on standard error, so that a script's own output (and a CSV written to standard output) stays clean
    with Progress(*columns, transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("score", total=total)
        yield lambda n: bar.advance(task, n)


def _object_column(cells: list[Any], index: Any) -> Any:
    """A column that keeps integers as integers next to empty cells (pandas would turn them into floats)."""
    import pandas as pd

    return pd.Series(cells, dtype=object, index=index)
