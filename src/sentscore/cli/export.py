"""``sentscore export`` (ONNX, optionally int8) and ``sentscore serve`` (HTTP and the web page)."""

from __future__ import annotations

import argparse
from typing import Any

from ..scoring.export import QUANTIZATIONS
from ..serve.settings import ServeSettings
from .common import add_device_flag, add_model_file_flags


def cmd_export(args: argparse.Namespace) -> int:
    from ..scoring.export import export_onnx

    sentences = None
    if args.check_file:
        from ..data import read_texts

        sentences = read_texts(args.check_file, args.text_column)[1]
    result = export_onnx(args.model_dir, quantize=args.quantize, check_sentences=sentences)
    print(f"Wrote {result.path} (max |logit difference| vs PyTorch: {result.max_abs_logit_diff:.1e})")
    if result.int8_path:
        print(
            f"Wrote {result.int8_path} (same prediction as fp32 on {result.int8_agreement:.1%} of the check sentences)"
        )
    from ..model.folder import ONNX_INT8_FILE, ModelFolder

    used = ModelFolder(args.model_dir).onnx_file("auto")
    kept = " (from an earlier --quantize int8)" if used and used.name == ONNX_INT8_FILE and not result.int8_path else ""
    others = "--onnx-file model.onnx for fp32, " if used and used.name == ONNX_INT8_FILE else ""
    print(f"sentscore predict, evaluate and serve now use {used.name}{kept} ({others}--backend torch for PyTorch)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ..serve import serve

    settings = ServeSettings.from_dict(ServeSettings.given_flags(args), source="sentscore serve")
    quiet = "warning" if args.quiet else "info"
    serve(args.model_dir, settings, args.backend, log_level=quiet, device=args.device, onnx_file=args.onnx_file)
    return 0


def add_export_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    export = commands.add_parser(
        "export", parents=[common], help="Export a trained model to ONNX for fast CPU scoring."
    )
    export.add_argument(
        "model_dir",
        help="Folder written by `sentscore train`; the ONNX files are written into it, replacing those there.",
    )
    export.add_argument(
        "--quantize",
        choices=QUANTIZATIONS,
        help="Also write an int8 model, which predict, evaluate and serve then prefer: smaller and faster on CPU, "
        "but it scores a few sentences in a hundred differently from fp32 and costs some accuracy "
        "(docs/decisions.md). Without it, the fp32 export scores exactly as PyTorch does.",
    )
    export.add_argument("--check-file", help="Sentences (any data file) to compare the exports with PyTorch on.")
    export.add_argument(
        "--text-column", default="sentence", help="Column of --check-file with the text (default: sentence)."
    )
    export.set_defaults(handler=cmd_export)


def add_serve_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser("serve", parents=[common], help="Serve a model over HTTP, with a web page at /.")
    serve.add_argument("model_dir", help="Folder written by `sentscore train` (its ONNX export is used if present).")
    add_model_file_flags(serve)
    add_device_flag(serve)
    ServeSettings.add_flags(serve, "server options")
    serve.set_defaults(handler=cmd_serve)
