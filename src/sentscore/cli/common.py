"""What the verbs share: exit codes, engines and the scoring backend's flags."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import TrainConfig
from ..model.folder import ONNX_FILES
from ..scoring.backends import BACKENDS, DEFAULT_BATCH_SIZE, DEVICES, LONG_TEXTS

EXIT_USER_ERROR = 2
EXIT_ROWS_SKIPPED = 3  # a file was scored, but rows with a blank text were not
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # as a shell reports a program that SIGPIPE ended (128 + 13)
ENGINES = ("local", "ray")


def recipe_from(args: argparse.Namespace, overrides: dict[str, Any]) -> TrainConfig:
    """The training recipe a command names: ``--config`` with the flags over it, or the flags alone."""
    if args.config:
        return TrainConfig.from_file(args.config, overrides)
    return TrainConfig.from_dict(overrides, source="command line", flags=set(overrides))


def load_scorer(args: argparse.Namespace) -> Any:
    """The model folder ``args.model_dir`` loaded as the backend flags say."""
    from ..scoring.scorer import Scorer

    return Scorer.load(
        args.model_dir,
        args.backend,
        args.batch_size,
        long_texts=args.long_texts,
        device=args.device,
        onnx_file=args.onnx_file,
    )


def add_device_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="cpu",
        help="cpu (default); cuda or mps scores with the PyTorch weights on that GPU, auto on one when there is one "
        "(an ONNX export scores on the CPU).",
    )


def add_model_file_flags(parser: argparse.ArgumentParser) -> None:
    """--backend and --onnx-file: which file of the folder scores (-v names it)."""
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="auto (default) uses an exported ONNX model when there is one (int8 first), else PyTorch "
        "(model.safetensors); it runs the fp32 export on OpenVINO in bf16 where OpenVINO is installed and the CPU "
        "multiplies bf16 natively, else on ONNX Runtime (onnx insists on it; openvino asks for OpenVINO).",
    )
    parser.add_argument(
        "--onnx-file",
        choices=ONNX_FILES,
        help="Score with this export of the folder (default: model.int8.onnx when there is one, else model.onnx).",
    )


def add_backend_flags(parser: argparse.ArgumentParser) -> None:
    add_model_file_flags(parser)
    add_device_flag(parser)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"Sentences per forward pass, sorted by length so that they pad little (default: {DEFAULT_BATCH_SIZE}).",
    )
    parser.add_argument(
        "--long-texts",
        choices=LONG_TEXTS,
        default="windows",
        help="A text longer than the model's max_length tokens: windows (default) scores it from overlapping "
        "windows and averages them; truncate scores its start only.",
    )
