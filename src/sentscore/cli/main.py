"""The ``sentscore`` command: parses flags, calls one library function per subcommand (a module each), and
turns :class:`SentscoreError` into a message and a non-zero exit. Nothing else lives here."""

from __future__ import annotations

import argparse
import atexit
import functools
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import TrainConfig
from ..errors import SentscoreError, speaking_from
from ..scoring.openvino_backend import openvino_runtime_only
from .audit import add_audit_parser
from .common import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_USER_ERROR
from .evaluate import add_evaluate_parser
from .export import add_export_parser, add_serve_parser
from .predict import add_predict_parser, cmd_predict
from .terminal import print_error, setup_logging
from .train import add_train_parser, add_tune_parser

logger = logging.getLogger("sentscore")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(config_for_help(sys.argv[1:] if argv is None else list(argv)))
    args, extra = parser.parse_known_args(argv)
    # argparse leaves sentences that follow an option (`predict DIR --probs "a" "b"`, or `-q -- "-5 stars"`) unparsed.
    options, after = (extra[: extra.index("--")], extra[extra.index("--") + 1 :]) if "--" in extra else (extra, [])
    if extra and args.handler is cmd_predict and not any(e.startswith("-") and e != "-" for e in options):
        args.sentences = [*args.sentences, *options, *after]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    setup_logging(args.verbose, args.quiet)
    try:
        with speaking_from("cli"):
            return int(args.handler(args) or 0)
    except SentscoreError as error:
        print_error(error.message, error.hint)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print_error("Interrupted.", None)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of the output went away (`| head`): nothing to say, nowhere to say it
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE
    except Exception as error:  # noqa: BLE001 - a bug: say so briefly, traceback only with --debug
        if args.debug:
            raise
        print_error(
            f"Unexpected error: {type(error).__name__}: {error}",
            "Run again with --debug for the traceback, and please report it.",
        )
        return 1


def run() -> None:
    """The ``sentscore`` program: :func:`main`, after which the process ends once every exit handler has run,
    without Python's teardown of the modules it loaded (freeing torch's, transformers' and OpenVINO's objects
    took 2.3 s after a training run had written and printed everything: docs/decisions.md). Only this program,
    which owns its process, does so; :func:`main` called from Python returns as any function does. OpenVINO, where
    a command loads it, comes without its model conversion tools (:func:`openvino_runtime_only`)."""
    openvino_runtime_only()
    code: list[int] = []
    atexit.register(_end_now, code)  # registered before any handler a command registers, so it runs after them
    code.append(main())
    sys.exit(code[0])


def _end_now(code: list[int]) -> None:
    """End the process with ``code`` once the output is flushed; leave it to Python where main did not return
    (an error under --debug), a child process still runs, or the output cannot be flushed."""
    multiprocessing = sys.modules.get("multiprocessing")
    if not code or (multiprocessing is not None and multiprocessing.active_children()):
        return
    logging.shutdown()  # its handler was registered before this one, so it would run only after it
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader went away after main returned: as main says for one that went before
        _stdout_to_devnull()
        os._exit(EXIT_BROKEN_PIPE)
    except (OSError, ValueError):  # closed streams: Python reports that as it always has
        return
    os._exit(code[0])


def _stdout_to_devnull() -> None:
    """Point standard output at the null device, so that what is still buffered for a closed pipe goes nowhere."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def config_for_help(argv: list[str]) -> tuple[dict[str, Any] | None, str]:
    """For ``train --config FILE --help`` (or tune's): the keys FILE sets, so that the help shows its values
    instead of the built-in defaults; None otherwise, or when the file cannot be read (running the command
    then says why)."""
    if not {"-h", "--help"} & set(argv) or "--config" not in argv[:-1]:
        return None, ""
    path = argv[argv.index("--config") + 1]
    try:
        return TrainConfig.read_file(path), Path(path).name
    except SentscoreError:
        return None, ""


def build_parser(config_file: tuple[dict[str, Any] | None, str] = (None, "")) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentscore",
        description="Fine-tune a BERT-family model to score sentences, evaluate it, and score new text.",
    )
    parser.add_argument("--version", action="version", version=f"sentscore {__version__}")

    def no_command(_: argparse.Namespace) -> int:
        parser.print_usage(sys.stderr)
        print("sentscore: error: give a command (sentscore --help lists them)", file=sys.stderr)
        return EXIT_USER_ERROR

    parser.set_defaults(verbose=False, quiet=False, debug=False, handler=no_command)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    quiet = "Only warnings and errors, no progress bars."
    for add_command, quiet_help in (
        (functools.partial(add_train_parser, config_file=config_file), quiet),
        (functools.partial(add_tune_parser, config_file=config_file), quiet),
        (add_evaluate_parser, quiet),
        (functools.partial(add_audit_parser, config_file=config_file), quiet),
        (add_predict_parser, "Only warnings and errors, no progress bars; print the bare score of each sentence."),
        (add_export_parser, "Only warnings and errors."),
        (add_serve_parser, "Only warnings and errors (no request log)."),
    ):
        add_command(commands, common_flags(quiet_help))
    return parser


def common_flags(quiet_help: str) -> argparse.ArgumentParser:
    """The flags every command takes, with -q said in the words of the command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="Show debug messages.")
    common.add_argument("-q", "--quiet", action="store_true", help=quiet_help)
    common.add_argument("--debug", action="store_true", help="Show the traceback of unexpected errors.")
    return common
