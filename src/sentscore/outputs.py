"""The output directory: the contract between train, predict, evaluate, export and serve.

A trained directory is a plain Hugging Face model folder (it loads in ``transformers.pipeline``) plus
sentscore's own description of how it was made.
"""

from __future__ import annotations

from pathlib import Path

from .errors import SentscoreError

SENTSCORE_FILE = "sentscore.json"  # labels, max_length, base model, the resolved training config
METRICS_FILE = "metrics.json"  # per-epoch and final validation metrics, majority baseline
CARD_FILE = "README.md"  # the model card
CONFUSION_PNG = "confusion_matrix.png"
CURVE_PNG = "training_curve.png"
CHECKPOINT_DIR = ".checkpoints"  # the Trainer's per-epoch checkpoints; removed when training ends
ONNX_FILE = "model.onnx"  # written by `sentscore export`
ONNX_INT8_FILE = "model.int8.onnx"

#: Needed to load the model for prediction.
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", SENTSCORE_FILE)

#: Every file `sentscore train` writes.
TRAIN_OUTPUT_FILES = frozenset(MODEL_FILES + (METRICS_FILE, CARD_FILE, CONFUSION_PNG, CURVE_PNG))


def is_trained_model_dir(path: Path) -> bool:
    return (path / "model.safetensors").is_file() or (path / SENTSCORE_FILE).is_file()


def check_can_write(output_dir: Path, overwrite: bool) -> None:
    """Never replace a trained model by accident."""
    if output_dir.exists() and not output_dir.is_dir():
        raise SentscoreError(f"output_dir {output_dir} is a file", hint="Choose a folder for output_dir.")
    if is_trained_model_dir(output_dir) and not overwrite:
        raise SentscoreError(
            f"{output_dir} already holds a trained model",
            hint="Choose another --output-dir, or pass --overwrite to replace it.",
        )


def check_model_dir(path: str | Path, need_weights: bool = True) -> Path:
    """A clear error for a missing or incomplete model directory."""
    path = Path(path)
    if not path.exists():
        raise SentscoreError(
            f"Model directory not found: {path}", hint="Train one with `sentscore train`, or check the path."
        )
    if not path.is_dir():
        raise SentscoreError(f"{path} is not a directory", hint="Give the folder `sentscore train` wrote.")
    required = MODEL_FILES if need_weights else tuple(f for f in MODEL_FILES if f != "model.safetensors")
    missing = [name for name in required if not (path / name).is_file()]
    if missing:
        raise SentscoreError(
            f"{path} is not a complete sentscore model: missing {', '.join(missing)}",
            hint="Point at a folder written by `sentscore train` (training may have been interrupted: train again).",
        )
    return path
