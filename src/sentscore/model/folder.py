"""The trained-model folder: the contract between train, predict, evaluate, export and serve.

A folder is a plain Hugging Face model folder (it loads in ``transformers.pipeline``, the
``AutoModelForSequenceClassification`` classes and ``BertForSequenceClassification`` when its head is the stock
one) plus sentscore's own record of how it was made. A folder whose head no stock class runs (sentscore's own
head, an ensemble) makes every stock loader stop with a message that says how to score it
(:mod:`sentscore.model.stock_loaders`), never load a random head. :class:`ModelFolder` alone writes and reads it:
values that must live in two files for transformers (the labels in ``config.json``, the truncation length in
``tokenizer_config.json``) are written from one :class:`ModelInfo` and checked against it on read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import atomic
from ..data import ScoreScale
from ..errors import SentscoreError
from .stock_loaders import ENSEMBLE_MODEL_TYPE, HEAD_MODEL_TYPE, guarding_stock_loaders, own_model_type

logger = logging.getLogger(__name__)

INFO_FILE = "sentscore.json"  # the ModelInfo record
METRICS_FILE = "metrics.json"  # per-epoch and final validation metrics, majority baseline
CARD_FILE = "README.md"  # the model card
CONFUSION_PNG = "confusion_matrix.png"
CURVE_PNG = "training_curve.png"
RELIABILITY_PNG = "reliability_diagram.png"
WEIGHTS_FILE = "model.safetensors"
MODEL_CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
CONFORMAL_FILE = "conformal.json"  # the validation sentences' conformal scores, for score sets
CHECKPOINT_DIR = ".checkpoints"  # the Trainer's per-epoch checkpoints; removed when training ends
RUNS_DIR = "runs"  # TensorBoard's runs, when logging_dir is not set; kept when the folder is trained again
ONNX_FILE = "model.onnx"  # written by `sentscore export`: the graph, its weights beside it in ONNX_DATA_FILE
ONNX_DATA_FILE = f"{ONNX_FILE}.data"  # ONNX external data, which ONNX Runtime and OpenVINO map into memory
ONNX_INT8_FILE = "model.int8.onnx"
ONNX_FILES = (ONNX_FILE, ONNX_INT8_FILE)  # the exports a folder may hold
#: Exports whose activations are quantized at run time over the whole input (dynamic int8): they are run one
#: sentence at a time, so that a sentence's score does not depend on the rest of its batch.
ONNX_RUN_ALONE = frozenset({ONNX_INT8_FILE})

#: Needed to load the model for prediction.
MODEL_FILES = (MODEL_CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, TOKENIZER_CONFIG_FILE, INFO_FILE)

REPORT_FILES = (METRICS_FILE, CARD_FILE, CONFUSION_PNG, CURVE_PNG, RELIABILITY_PNG, CONFORMAL_FILE)
#: Every file `sentscore train` writes (with its default ONNX export).
TRAIN_OUTPUT_FILES = frozenset(MODEL_FILES + REPORT_FILES + (ONNX_FILE, ONNX_DATA_FILE))

#: Version of the ModelInfo layout; folders written before it existed (sentscore 0.1.0) read as version 1.
INFO_FORMAT = 2


@dataclass(frozen=True)
class ModelInfo:
    """What sentscore records about a trained model (``sentscore.json``)."""

    labels: tuple[str, ...]
    max_length: int
    objective: str = "classification"
    objective_params: dict[str, Any] = field(default_factory=dict)
    pooling: str = "cls"
    base_model: str | None = None
    text_column: str = "sentence"
    score_column: str = "score"
    train_file: str | None = None
    validation_file: str | None = None
    train_samples: int | None = None
    unlabelled_samples: int | None = None  # sentences without a score, learnt from a teacher's distributions
    validation_samples: int | None = None
    train_seconds: float | None = None
    trained_at: str | None = None
    config: dict[str, Any] = field(default_factory=dict)  # the fully resolved training config
    calibration: dict[str, Any] | None = None  # how the probabilities were calibrated, and the error before/after
    checksums: dict[str, str] = field(default_factory=dict)  # file name -> SHA-256 of the weights and exports
    processes: int = 1  # training processes
    global_batch_size: int | None = None  # sentences per optimizer step, across every process
    versions: dict[str, str] = field(default_factory=dict)  # sentscore and the libraries that trained it
    test_file: str | None = None  # a labelled file scored once by the kept model, never trained or validated on
    test_samples: int | None = None
    seen: dict[str, str] | None = None  # hashes of the sentences trained and validated on (``data.seen``)
    format: int = INFO_FORMAT

    @property
    def scale(self) -> ScoreScale:
        return ScoreScale(tuple(self.labels))

    def to_json(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["labels"] = list(self.labels)
        record["numeric"] = self.scale.is_numeric  # for readers of the file; derived, never read back
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> ModelInfo:
        """Read a record, including one written by sentscore 0.1.0 (no objective, one version field)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in record.items() if key in known}
        if "versions" not in record and "sentscore_version" in record:
            values["versions"] = {"sentscore": record["sentscore_version"]}
        values.setdefault("format", 1)
        values["labels"] = tuple(str(label) for label in record["labels"])
        values["max_length"] = int(record["max_length"])
        return cls(**values)


def library_versions() -> dict[str, str]:
    """sentscore's version and those of the libraries a model's behaviour depends on."""
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__

    versions = {"sentscore": __version__}
    for package in ("transformers", "torch", "tokenizers"):
        with contextlib.suppress(PackageNotFoundError):  # all are dependencies; never fail a save over it
            versions[package] = version(package)
    return versions


class ModelFolder:
    """A trained-model folder: checks, reads and writes it. Cheap to create; reads lazily."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._info: ModelInfo | None = None
        self._conformal: dict[str, Any] | None = None  # conformal.json, read once

    def __repr__(self) -> str:
        return f"ModelFolder({str(self.path)!r})"

    def file(self, name: str) -> Path:
        return self.path / name

    # ---- reading -----------------------------------------------------------------------------------------

    def is_trained(self) -> bool:
        return self.file(WEIGHTS_FILE).is_file() or self.file(INFO_FILE).is_file()

    def check(self, need_weights: bool = True) -> ModelFolder:
        """A clear error for a missing or incomplete folder; returns the folder for chaining."""
        if not self.path.exists():
            raise SentscoreError(
                f"Model directory not found: {self.path}", hint="Train one with `sentscore train`, or check the path."
            )
        if not self.path.is_dir():
            raise SentscoreError(f"{self.path} is not a directory", hint="Give the folder `sentscore train` wrote.")
        required = MODEL_FILES if need_weights else tuple(f for f in MODEL_FILES if f != WEIGHTS_FILE)
        missing = [name for name in required if not self.file(name).is_file()]
        if missing:
            raise SentscoreError(
                f"{self.path} is not a complete sentscore model: missing {', '.join(missing)}",
                hint="Point at a folder written by `sentscore train` (training may have been interrupted: "
                "train again).",
            )
        return self

    def info(self) -> ModelInfo:
        """The folder's record, checked against the copies transformers reads."""
        if self._info is None:
            record = self._read_json(INFO_FILE)
            try:
                info = ModelInfo.from_json(record)
            except (KeyError, TypeError, ValueError) as exc:
                raise SentscoreError(
                    f"{self.file(INFO_FILE)} is damaged ({type(exc).__name__}: {exc})", hint="Train the model again."
                ) from None
            self._check_agreement(info)
            self._info = info
        return self._info

    def metrics(self) -> dict[str, Any]:
        """The training metrics (``metrics.json``), or an empty dict when the folder has none."""
        return self._read_json(METRICS_FILE) if self.file(METRICS_FILE).is_file() else {}

    def conformal_scores(self) -> list[float] | None:
        """The held-out sentences' conformal scores (None for a folder trained before sentscore recorded them)."""
        record = self._conformal_record()
        return None if record is None else [float(s) for s in record["scores"]]

    def conformal_method(self) -> str:
        """How the folder's score sets grow (:data:`sentscore.conformal.METHODS`): the method its conformal
        scores were computed with; contiguous for a folder written before sentscore recorded it."""
        from .conformal import METHODS

        method = (self._conformal_record() or {}).get("method")
        return method if method in METHODS else "contiguous"

    def _conformal_record(self) -> dict[str, Any] | None:
        if self._conformal is None:
            if not self.file(CONFORMAL_FILE).is_file():
                return None
            record = self._read_json(CONFORMAL_FILE)
            if not isinstance(record.get("scores"), list):
                raise SentscoreError(
                    f"{self.file(CONFORMAL_FILE)} is damaged (no scores)", hint="Train the model again."
                )
            self._conformal = record
        return self._conformal

    def onnx_file(self, backend: str, name: str | None = None) -> Path | None:
        """The ONNX export to score with: ``name`` if given, else int8 before fp32 (OpenVINO: fp32 only); None for
        the torch backend or (backend "auto") when the folder has no export."""
        if backend == "torch":
            return None
        candidates = [name] if name else [ONNX_FILE] if backend == "openvino" else [ONNX_INT8_FILE, ONNX_FILE]
        if found := next((self.file(c) for c in candidates if self.file(c).is_file()), None):
            return found
        if backend != "auto" or name:
            raise SentscoreError(
                f"{self.path} has no exported ONNX model ({' or '.join(candidates)})",
                hint=f"Run `sentscore export {self.path}` first, or use --backend torch.",
            )
        return None

    def _read_json(self, name: str) -> dict[str, Any]:
        try:
            record = json.loads(self.file(name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SentscoreError(f"{self.file(name)} is missing", hint="Train the model again.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SentscoreError(f"{self.file(name)} is damaged ({exc})", hint="Train the model again.") from None
        if not isinstance(record, dict):
            raise SentscoreError(f"{self.file(name)} is damaged (not a JSON object)", hint="Train the model again.")
        return record

    def _check_agreement(self, info: ModelInfo) -> None:
        """The labels and truncation length that transformers reads must be the ones sentscore scores with."""
        problems = []
        model_config = self._read_json(MODEL_CONFIG_FILE) if self.file(MODEL_CONFIG_FILE).is_file() else {}
        if own_model_type(model_config) is None:  # the stock head: transformers reads its labels
            id2label = model_config.get("id2label")
            if id2label is not None:
                labels = tuple(str(id2label[key]) for key in sorted(id2label, key=int))
                if labels != info.labels:
                    problems.append(f"{MODEL_CONFIG_FILE} has the labels {list(labels)}")
        if self.file(TOKENIZER_CONFIG_FILE).is_file():
            length = self._read_json(TOKENIZER_CONFIG_FILE).get("model_max_length")
            if length is not None and int(length) != info.max_length:
                problems.append(f"{TOKENIZER_CONFIG_FILE} has model_max_length {length}")
        if problems:
            raise SentscoreError(
                f"{self.path} disagrees with itself: {INFO_FILE} has the labels {list(info.labels)} and max_length "
                f"{info.max_length}, but " + " and ".join(problems),
                hint=f"Undo the hand edit (sentscore writes both from one record), or train again; {INFO_FILE} is "
                "what sentscore scores with.",
            )

    # ---- writing -----------------------------------------------------------------------------------------

    def latest_checkpoint(self) -> Path | None:
        """The newest complete resumable checkpoint that training left in the folder, if any."""
        folder = self.file(CHECKPOINT_DIR)
        needed = ("trainer_state.json", "optimizer.pt", "scheduler.pt", WEIGHTS_FILE)
        found = [p for p in folder.glob("checkpoint-*") if all((p / name).is_file() for name in needed)]
        return max(found, key=lambda p: int(p.name.rsplit("-", 1)[-1]), default=None)

    def check_can_write(self, overwrite: bool) -> None:
        """Never replace a trained model by accident, nor a folder of other things: training replaces the whole
        folder (what an interrupted run left is kept for ``resume``)."""
        if self.path.exists() and not self.path.is_dir():
            raise SentscoreError(f"output_dir {self.path} is a file", hint="Choose a folder for output_dir.")
        if self.is_trained():
            if not overwrite:
                raise SentscoreError(
                    f"{self.path} already holds a trained model",
                    hint="Choose another --output-dir, or pass --overwrite to replace it.",
                )
            return
        left = {CHECKPOINT_DIR, RUNS_DIR}  # by a run that stopped, and a partial file (.x.partial) of one
        found = sorted(self.path.iterdir()) if self.path.is_dir() else []
        others = [p.name + "/" * p.is_dir() for p in found if p.name not in left and not p.name.endswith(".partial")]
        if others:
            raise SentscoreError(
                f"output_dir {self.path} holds what sentscore did not write ({', '.join(others[:5])}"
                f"{', …' if len(others) > 5 else ''}), and training replaces the whole folder",
                hint="Choose a new or empty folder for --output-dir, or move those out of it first.",
            )

    def write_model(self, model: Any, tokenizer: Any, info: ModelInfo) -> None:
        """Weights, model config and tokenizer, with the labels and truncation length taken from ``info``, and
        the record with the weights' checksum."""
        self.path.mkdir(parents=True, exist_ok=True)
        if model.config.model_type != HEAD_MODEL_TYPE:  # pipeline() returns the real score labels
            model.config.id2label = info.scale.id2label
            model.config.label2id = info.scale.label2id
        model.save_pretrained(str(self.path), safe_serialization=True)
        if model.config.model_type in (HEAD_MODEL_TYPE, ENSEMBLE_MODEL_TYPE):
            what = f"pooling {info.pooling}, objective {info.objective}"
            self._write_json(MODEL_CONFIG_FILE, guarding_stock_loaders(self._read_json(MODEL_CONFIG_FILE), what))
        # Saved so that pipeline() truncates exactly as training did (the recipe used 512 vs 128).
        tokenizer.model_max_length = info.max_length
        tokenizer.save_pretrained(str(self.path))
        self.write_info(dataclasses.replace(info, checksums={WEIGHTS_FILE: sha256(self.file(WEIGHTS_FILE))}))

    def write_info(self, info: ModelInfo) -> None:
        self._write_json(INFO_FILE, info.to_json())
        self._info = info

    def record_checksum(self, name: str) -> None:
        """Record the checksum of the folder's file ``name`` (an export), and of its external data if any."""
        names = (name, f"{name}.data")  # a companion no longer there loses its checksum too
        kept = {each: checksum for each, checksum in self.info().checksums.items() if each not in names}
        found = {each: sha256(self.file(each)) for each in names if self.file(each).is_file()}
        self.write_info(dataclasses.replace(self.info(), checksums={**kept, **found}))

    def verify(self, name: str) -> Path:
        """The folder's file ``name`` (with the external data beside an export), checked against the checksums
        recorded when it was written (files of a folder written before sentscore recorded checksums are not)."""
        for each in (name, f"{name}.data"):
            expected = self.info().checksums.get(each)
            if expected is not None and (not self.file(each).is_file() or sha256(self.file(each)) != expected):
                raise SentscoreError(
                    f"{self.file(each)} is not the file sentscore wrote: it is missing, or its checksum differs "
                    f"from the one recorded in {INFO_FILE} (the file was truncated, replaced or edited)",
                    hint="Restore the folder from a copy, or train (or export) again.",
                )
        return self.file(name)

    def write_conformal_scores(self, scores: list[float], method: str) -> None:
        """The held-out sentences' conformal scores, computed with the score-set ``method``."""
        record = {"method": method, "split": "split conformal", "held_out": "validation", "scores": scores}
        self._write_json(CONFORMAL_FILE, record)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        self._write_json(METRICS_FILE, metrics)

    def write_report(self, info: ModelInfo, metrics: dict[str, Any]) -> None:
        """The model card and the plots of the kept model, of the epochs and of its calibration."""
        from .card import model_card
        from .figures import confusion_matrix_figure, reliability_figure, training_curve_figure

        figures = {
            CONFUSION_PNG: confusion_matrix_figure(metrics["final"]["confusion_matrix"], info.scale),
            CURVE_PNG: training_curve_figure(metrics["epochs"], metrics["primary_metric"]),
            RELIABILITY_PNG: reliability_figure(metrics["final"]["reliability"]),
        }
        for name, figure in figures.items():
            with atomic.replacing(self.file(name)) as temporary:
                figure.savefig(temporary, dpi=110, format="png")
        stock_head = own_model_type(self._read_json(MODEL_CONFIG_FILE)) is None
        card = model_card(info, metrics, CONFUSION_PNG, CURVE_PNG, RELIABILITY_PNG, stock_head)
        atomic.write_text(self.file(CARD_FILE), card)

    def _write_json(self, name: str, record: dict[str, Any]) -> None:
        atomic.write_text(self.file(name), json.dumps(record, indent=2) + "\n")


def sha256(path: Path) -> str:
    """The SHA-256 of a file."""
    import hashlib

    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
