"""Scoring: load a trained directory once, score sentences in length-sorted batches.

Two backends share one tokenizer (the model's ``tokenizer.json``, through the ``tokenizers`` library):
``torch`` runs the saved safetensors weights; ``onnx`` runs an exported ONNX model on ONNX Runtime and
never imports torch or transformers, so a one-sentence CLI call starts fast.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data import ScoreScale
from .errors import SentscoreError
from .outputs import ONNX_FILE, ONNX_INT8_FILE, SENTSCORE_FILE, check_model_dir

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx")
#: Sentences per batch when scoring (and in the export's checks, which score as predict does).
DEFAULT_BATCH_SIZE = 64


@dataclass
class Prediction:
    """One sentence's score. ``score`` is the most likely label (an int for numeric scales), ``confidence``
    its probability, ``expected_score`` the probability-weighted mean Σ k·p(k) (numeric scales only)."""

    score: int | float | str
    confidence: float
    expected_score: float | None
    probs: dict[str, float] = field(default_factory=dict)

    def to_dict(self, with_probs: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = {
            "score": self.score,
            "confidence": round(self.confidence, 6),
            "expected_score": None if self.expected_score is None else round(self.expected_score, 6),
        }
        if with_probs:
            result["probs"] = {k: round(v, 6) for k, v in self.probs.items()}
        return result


class Scorer:
    """A trained model ready to score sentences.

    >>> scorer = Scorer.load("models")                       # doctest: +SKIP
    >>> scorer.predict(["Great food, slow service."])[0].score  # doctest: +SKIP
    4
    """

    def __init__(
        self,
        model_dir: Path,
        scale: ScoreScale,
        max_length: int,
        tokenizer: Any,
        run_batch: Callable[[dict[str, np.ndarray]], np.ndarray],
        backend: str,
        batch_size: int,
        info: dict[str, Any],
    ):
        self.model_dir = model_dir
        self.scale = scale
        self.max_length = max_length
        self.backend = backend
        self.batch_size = batch_size
        self.info = info
        self._tokenizer = tokenizer
        self._run_batch = run_batch

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        backend: str = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
        num_threads: int | None = None,
        onnx_file: str | None = None,
    ) -> Scorer:
        """Load ``model_dir`` once. ``backend="auto"`` uses an exported ONNX model when there is one
        (int8 first), else the PyTorch weights. Truncation length comes from the trained model."""
        if backend not in BACKENDS:
            raise SentscoreError(f"Unknown backend '{backend}'", hint=f"Use one of {', '.join(BACKENDS)}.")
        if batch_size < 1:
            raise SentscoreError("batch_size must be at least 1")
        model_dir = Path(model_dir)
        onnx_path = _pick_onnx(model_dir, backend, onnx_file)
        check_model_dir(model_dir, need_weights=onnx_path is None)
        info = _read_info(model_dir)
        scale = ScoreScale(tuple(info["labels"]))
        max_length = int(info["max_length"])
        tokenizer = _load_tokenizer(model_dir, max_length)
        threads = num_threads or os.cpu_count() or 1
        if onnx_path is not None:
            run, chosen = _onnx_runner(onnx_path, threads), "onnx"
        else:
            run, chosen = _torch_runner(model_dir, threads), "torch"
        logger.debug("Loaded %s with the %s backend", model_dir, chosen if not onnx_path else onnx_path.name)
        return cls(model_dir, scale, max_length, tokenizer, run, chosen, batch_size, info)

    def predict_proba(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Probabilities, shape (len(texts), number of labels), in input order."""
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, len(self.scale)), dtype=np.float32)
        blank = [i for i, text in enumerate(texts) if not text.strip()]
        if blank:  # the model would still answer, with a score that means nothing
            raise SentscoreError(
                f"texts{blank[:10]} {'are' if len(blank) > 1 else 'is'} blank"
                + (f" ({len(blank)} in all)" if len(blank) > 10 else ""),
                hint="Drop blank sentences before scoring; a blank sentence has nothing to score.",
            )
        encodings = self._tokenizer.encode_batch(texts)
        # Sorting by length means each batch pads only to its own longest sentence.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        probs = np.empty((len(texts), len(self.scale)), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            logits = self._run_batch(_pad([encodings[i] for i in chunk]))
            probs[chunk] = _softmax(logits)
            if progress:
                progress(len(chunk))
        return probs

    def predict(self, texts: Sequence[str] | str) -> list[Prediction]:
        """Score each sentence; a single string is treated as one sentence."""
        if isinstance(texts, str):
            texts = [texts]
        return self.predictions_from_probs(self.predict_proba(texts))

    def predictions_from_probs(self, probs: np.ndarray) -> list[Prediction]:
        values = np.asarray(self.scale.values) if self.scale.is_numeric else None
        expected = probs @ values if values is not None else [None] * len(probs)
        best = probs.argmax(axis=1)
        return [
            Prediction(
                score=self.scale.parse(self.scale.labels[b]),
                confidence=float(p[b]),
                expected_score=None if e is None else float(e),
                probs={label: float(x) for label, x in zip(self.scale.labels, p, strict=True)},
            )
            for p, b, e in zip(probs, best, expected, strict=True)
        ]

    def score_file(
        self,
        input_path: str | Path,
        output_path: str | Path,
        text_column: str = "sentence",
        with_probs: bool = False,
        show_progress: bool = True,
    ) -> Any:
        """Score every row of a CSV/TSV/JSONL/text file and write it with ``score``, ``confidence``,
        ``expected_score`` (and ``prob_<label>`` columns) added, keeping every input column and the order."""
        from .data import read_texts, write_table

        input_path, output_path = Path(input_path), Path(output_path)
        if output_path.resolve() == input_path.resolve():
            raise SentscoreError(
                f"--output {output_path} is the input file", hint="Write the scores to a new file so the input is kept."
            )
        frame, texts = read_texts(input_path, text_column)
        probs = self._predict_with_progress(texts, show_progress)
        frame = self.add_scores(frame, probs, with_probs)
        write_table(frame, output_path)
        return frame

    def add_scores(self, frame: Any, probs: np.ndarray, with_probs: bool = False) -> Any:
        """A copy of ``frame`` with ``score``, ``confidence``, ``expected_score`` (and ``prob_<label>``)."""
        predictions = self.predictions_from_probs(probs)
        frame = frame.copy()
        frame["score"] = [p.score for p in predictions]
        frame["confidence"] = probs.max(axis=1).round(6)
        if self.scale.is_numeric:
            frame["expected_score"] = [round(p.expected_score, 6) for p in predictions]
        if with_probs:
            for j, label in enumerate(self.scale.labels):
                frame[f"prob_{label}"] = probs[:, j].round(6)
        return frame

    def _predict_with_progress(self, texts: list[str], show_progress: bool) -> np.ndarray:
        if not show_progress:
            return self.predict_proba(texts)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("Scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task("score", total=len(texts))
            return self.predict_proba(texts, progress=lambda n: bar.advance(task, n))


def _read_info(model_dir: Path) -> dict[str, Any]:
    try:
        info = json.loads((model_dir / SENTSCORE_FILE).read_text(encoding="utf-8"))
        _ = info["labels"], info["max_length"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise SentscoreError(
            f"{model_dir / SENTSCORE_FILE} is damaged ({exc})", hint="Train the model again."
        ) from None
    return info


def _pick_onnx(model_dir: Path, backend: str, onnx_file: str | None) -> Path | None:
    if backend == "torch":
        return None
    candidates = [onnx_file] if onnx_file else [ONNX_INT8_FILE, ONNX_FILE]
    for name in candidates:
        if (model_dir / name).is_file():
            return model_dir / name
    if backend == "onnx":
        raise SentscoreError(
            f"{model_dir} has no exported ONNX model ({' or '.join(candidates)})",
            hint=f"Run `sentscore export {model_dir}` first, or use --backend torch.",
        )
    return None


def _load_tokenizer(model_dir: Path, max_length: int) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()
    return tokenizer


def _pad(encodings: Iterable[Any]) -> dict[str, np.ndarray]:
    encodings = list(encodings)
    width = max(len(e.ids) for e in encodings)
    batch = {
        name: np.zeros((len(encodings), width), dtype=np.int64)
        for name in ("input_ids", "attention_mask", "token_type_ids")
    }
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        batch["input_ids"][row, :n] = encoding.ids
        batch["attention_mask"][row, :n] = encoding.attention_mask
        batch["token_type_ids"][row, :n] = encoding.type_ids
    return batch


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _torch_runner(model_dir: Path, threads: int) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    import torch
    from transformers import AutoModelForSequenceClassification

    from .models import quiet_transformers

    torch.set_num_threads(threads)
    try:
        with quiet_transformers():
            model = AutoModelForSequenceClassification.from_pretrained(str(model_dir))
    except (OSError, ValueError) as exc:
        raise SentscoreError(f"Could not load the model in {model_dir}: {exc}", hint="Train the model again.") from None
    model.eval()
    import inspect

    # DistilBERT-style models take no token_type_ids; BERT does.
    accepted = set(inspect.signature(model.forward).parameters) & {"input_ids", "attention_mask", "token_type_ids"}

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            inputs = {k: torch.from_numpy(v) for k, v in batch.items() if k in accepted}
            return model(**inputs).logits.float().numpy()

    return run


def _onnx_runner(path: Path, threads: int) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        raise SentscoreError(f"Could not load {path}: {exc}", hint="Export it again with `sentscore export`.") from None
    names = [i.name for i in session.get_inputs()]

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        return session.run(["logits"], {name: batch[name] for name in names})[0]

    return run
