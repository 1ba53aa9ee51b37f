"""sentscore: fine-tune a BERT-family model to score sentences on an ordinal scale.

The public face is small and imports nothing heavy until it is used::

    from sentscore import Scorer, TrainConfig, train, evaluate
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.4.0"

__all__ = [
    "ModelFolder",
    "Scorer",
    "SentscoreError",
    "TrainConfig",
    "TrainResult",
    "__version__",
    "audit",
    "evaluate",
    "export_onnx",
    "train",
]

if TYPE_CHECKING:  # pragma: no cover
    from .auditing import audit
    from .config import TrainConfig
    from .errors import SentscoreError
    from .evaluation import evaluate
    from .model.folder import ModelFolder
    from .scoring.export import export_onnx
    from .scoring.scorer import Scorer
    from .training.recipe import TrainResult, train

_LAZY = {
    "audit": ("auditing", "audit"),
    "ModelFolder": ("model.folder", "ModelFolder"),
    "Scorer": ("scoring.scorer", "Scorer"),
    "TrainResult": ("training.recipe", "TrainResult"),
    "export_onnx": ("scoring.export", "export_onnx"),
    "TrainConfig": ("config", "TrainConfig"),
    "SentscoreError": ("errors", "SentscoreError"),
    "train": ("training.recipe", "train"),
    "evaluate": ("evaluation", "evaluate"),
}


def __getattr__(name: str) -> Any:
    # Lazy so that `import sentscore` (and the CLI's --help, and ONNX scoring) never pays for torch.
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module_name}", __name__), attr)
    raise AttributeError(f"module 'sentscore' has no attribute {name!r}")
