"""The ``sentscore`` command: parses flags, calls one library function per subcommand, and turns
:class:`SentscoreError` into a message and a non-zero exit. Nothing else lives here."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .backends import BACKENDS, DEFAULT_BATCH_SIZE, LONG_TEXTS
from .config import TrainConfig
from .data import BLANK_ROWS
from .errors import SentscoreError
from .export import QUANTIZATIONS
from .serve.settings import ServeSettings
from .terminal import (
    console,
    print_decodings,
    print_error,
    print_explanation,
    print_metrics_table,
    setup_logging,
)

logger = logging.getLogger("sentscore")

EXIT_USER_ERROR = 2
EXIT_ROWS_SKIPPED = 3  # a file was scored, but rows with a blank text were not
EXIT_INTERRUPTED = 130
ENGINES = ("local", "ray")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse leaves sentences that follow an option (`predict DIR --probs "a" "b"`) unparsed.
    if extra and args.handler is cmd_predict and not any(e.startswith("-") for e in extra):
        args.sentences = [*args.sentences, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    setup_logging(args.verbose, args.quiet)
    try:
        return int(args.handler(args) or 0)
    except SentscoreError as error:
        print_error(error.message, error.hint)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print_error("Interrupted.", None)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - a bug: say so briefly, traceback only with --debug
        if args.debug:
            raise
        print_error(
            f"Unexpected error: {type(error).__name__}: {error}",
            "Run again with --debug for the traceback, and please report it.",
        )
        return 1


# ---- subcommands -----------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from .runtime import tune_process_for_training
    from .training import TrainingInterrupted, train

    overrides = TrainConfig.given_flags(args)
    if args.config:
        config = TrainConfig.from_file(args.config, overrides)
    else:
        config = TrainConfig.from_dict(overrides, source="command line")
    if args.engine == "ray":
        return _train_with_ray(config, args.workers)
    tune_process_for_training(config)  # this process is the CLI's to tune; a library call never does
    stop = stop_on_signals()  # likewise its signal handlers: Ctrl-C and SIGTERM end training with a checkpoint
    try:
        result = train(config, show_progress=not args.quiet, stop=stop)
    except TrainingInterrupted as interrupted:
        return _explain_interruption(interrupted)
    if not result.is_main_process:  # under a multi-process launcher, one summary
        return 0
    print_metrics_table(
        result.metrics, result.baseline, title=f"Validation metrics ({result.validation_samples} sentences)"
    )
    console().print(
        f"Trained on {result.train_samples} sentences in {result.train_seconds:.0f} s. "
        f"Model saved to [bold]{result.output_dir}[/bold]\n"
        f'Next: sentscore predict {result.output_dir} "Your sentence here"'
    )
    return 0


def _train_with_ray(config: TrainConfig, workers: int) -> int:
    from .ray import connect, train_on_ray

    if workers < 1:
        raise SentscoreError(f"--workers must be at least 1, got {workers}")
    connect()
    metrics = train_on_ray(config, workers=workers, use_gpu=config.device == "cuda")
    shown = {k: round(v, 4) for k, v in metrics.items() if k.startswith("eval_") and isinstance(v, float)}
    console().print(
        f"Trained with Ray Train on {workers} workers; last epoch: {shown}. "
        f"Model saved to [bold]{config.output_dir}[/bold]"
    )
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from .runtime import tune_process_for_training
    from .training import TrainingInterrupted, train
    from .tuning import require_optuna, tune

    optuna = require_optuna()
    overrides = TrainConfig.given_flags(args)
    config = (
        TrainConfig.from_file(args.config, overrides)
        if args.config
        else TrainConfig.from_dict(overrides, source="command line")
    )
    tune_process_for_training(config)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial comes from sentscore instead
    logging.getLogger("sentscore.tuning").setLevel(logging.INFO)
    stop = stop_on_signals()
    timeout_s = parse_duration(args.timeout)
    result = tune(config, args.study_dir, args.trials, timeout_s, args.params, args.sampler_seed, stop)
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.best_params.items())
    if result.kept_as_given:
        params = "the config as given (better trials were within the validation set's noise)"
    params = params or "the config as given (no trial did better)"
    console().print(
        f"{result.trials_done} trials finished, {result.trials_pruned} stopped early. Best validation "
        f"{config.metric_for_best_model}: {result.best_value:.4f} with {params}\n"
        f"Wrote {result.best_config}, {result.study_dir / 'trials.csv'} and {result.study_dir / 'trials.png'}; "
        f"running the same command again continues the study."
    )
    if not args.train_best:
        console().print(f"Next: sentscore train --config {result.best_config}")
        return 0
    best = TrainConfig.from_file(result.best_config, {"overwrite": config.overwrite})
    try:
        trained = train(best, show_progress=not args.quiet, stop=stop)
    except TrainingInterrupted as interrupted:
        return _explain_interruption(interrupted)
    console().print(f"Trained the best configuration into [bold]{trained.output_dir}[/bold]")
    return 0


def parse_duration(text: str | None) -> float | None:
    """Seconds in "90", "90s", "30m" or "2h"; None stays None."""
    if text is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], units[text[-1]]) if text and text[-1] in units else (text, 1)
    try:
        seconds = float(number) * unit
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise SentscoreError(f"--timeout {text!r} is not a duration", hint="Write e.g. 90s, 30m or 2h.")
    return seconds


def stop_on_signals() -> threading.Event:
    """An event set by the first Ctrl-C or SIGTERM (training then stops after its step, writing a checkpoint);
    a second Ctrl-C interrupts at once."""
    stop = threading.Event()

    def ask_to_stop(signum: int, frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        print("\nStopping after this step and writing a checkpoint (Ctrl-C again to quit now)", file=sys.stderr)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, ask_to_stop)
    return stop


def _explain_interruption(interrupted: Any) -> int:
    command = " ".join(shlex.quote(a) for a in ["sentscore", *sys.argv[1:]] if a != "--resume")
    print_error(
        f"Training was interrupted; its checkpoint {interrupted.checkpoint} is kept.",
        f"Continue where it stopped with: {command} --resume",
    )
    return EXIT_INTERRUPTED


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import evaluate

    problems = []
    if args.worst < 0:
        problems.append(f"--worst must be 0 or more, got {args.worst}")
    if args.output and Path(args.output).suffix.lower() != ".json":
        problems.append(f"--output {args.output}: the report is JSON, so its name must end in .json")
    if not 0 < args.set < 1:
        problems.append(f"--set must be between 0 and 1 (the coverage of the score sets), got {args.set}")
    if problems:  # checked before the model loads and scores the file
        raise SentscoreError("; ".join(problems), hint="e.g. --worst 25 --output report.json --set 0.9")
    report = evaluate(
        args.model_dir,
        args.data_file,
        args.text_column,
        args.score_column,
        args.worst,
        args.backend,
        args.batch_size,
        set_coverage=args.set,
        long_texts=args.long_texts,
    )
    print_metrics_table(report["metrics"], None, title=f"{args.data_file} ({report['metrics']['n']} sentences)")
    print_decodings(report["decodings"])
    long = report["long_texts"]
    if long["count"]:
        how = "from overlapping windows" if long["scored"] == "windows" else "from their start"
        console().print(
            f"{long['count']} of {report['metrics']['n']} texts are longer than the model's {long['max_length']} "
            f"tokens; they were scored {how} (--long-texts)."
        )
    if report["score_sets"]:
        sets = report["score_sets"]
        console().print(
            f"Score sets at {sets['coverage_asked']:.0%}: they held the true score for {sets['coverage']:.1%} of "
            f"the sentences, spanning {sets['mean_size']:.2f} scores on average."
        )
    if report["worst_mistakes"]:
        from rich.table import Table

        table = Table(title=f"{len(report['worst_mistakes'])} worst mistakes")
        for column in ("row", "true", "predicted", "sentence"):
            table.add_column(column, overflow="fold")
        for m in report["worst_mistakes"]:
            table.add_row(str(m["row"]), str(m["true"]), str(m["predicted"]), m["sentence"])
        console().print(table)
    if args.output:
        from . import atomic

        atomic.write_text(Path(args.output), json.dumps(report, indent=2) + "\n")
        console().print(f"Wrote {args.output}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .predict import Scorer

    if bool(args.input) == bool(args.sentences):
        raise SentscoreError(
            "Give either sentences to score or --input FILE (not both)",
            hint='sentscore predict MODEL_DIR "a sentence"  or  '
            "sentscore predict MODEL_DIR --input in.csv --output out.csv",
        )
    if args.input and args.explain:
        raise SentscoreError(
            "--explain works on sentences given on the command line, not on --input files",
            hint='Explain a few sentences: sentscore predict MODEL_DIR --explain "a sentence"',
        )
    if args.input and not args.output:
        raise SentscoreError("--input needs --output", hint="Add --output scored.csv (or .tsv/.jsonl).")
    if args.output and not args.input:
        raise SentscoreError("--output needs --input", hint="Give the file to score with --input.")
    blank = [str(n) for n, sentence in enumerate(args.sentences, 1) if not sentence.strip()]
    if blank:  # often an unset shell variable; checked before the model loads
        raise SentscoreError(
            f"sentence{'s' if len(blank) > 1 else ''} {', '.join(blank)} of {len(args.sentences)} "
            f"{'are' if len(blank) > 1 else 'is'} blank",
            hint="Give text to score in each one.",
        )
    if args.set is not None:
        from .conformal import check_coverage

        check_coverage(args.set)
    if args.workers < 1:
        raise SentscoreError(f"--workers must be at least 1, got {args.workers}")
    if args.engine == "ray":
        return _score_with_ray(args)
    if args.input and len(args.input) > 1:
        raise SentscoreError(
            f"--input takes one file with the local engine, got {len(args.input)}",
            hint="Score them one by one, or all at once with --engine ray --output FOLDER.",
        )
    scorer = Scorer.load(args.model_dir, backend=args.backend, batch_size=args.batch_size, long_texts=args.long_texts)
    if args.input:
        return _score_file(scorer, args)
    predictions = scorer.predict(args.sentences, set_coverage=args.set)
    explanations = scorer.explain(args.sentences) if args.explain else [None] * len(predictions)
    for sentence, prediction, explanation in zip(args.sentences, predictions, explanations, strict=True):
        if args.json:
            extra = {} if explanation is None else {"explanation": [w.to_dict() for w in explanation]}
            print(json.dumps({"sentence": sentence, **prediction.to_dict(args.probs), **extra}))
            continue
        line = f"Score: {prediction.score}"
        if prediction.set_text is not None:
            line += f"  ({args.set:.0%} set: {prediction.set_text})"
        if len(args.sentences) > 1:
            line += f"\t{sentence}"
        print(line)
        if args.probs:
            probs = "  ".join(f"{k}: {v:.3f}" for k, v in prediction.probs.items())
            expected = "" if prediction.expected_score is None else f"  expected: {prediction.expected_score:.2f}"
            print(f"  probs  {probs}{expected}")
        if explanation is not None:
            print_explanation(explanation)
    return 0


def _score_with_ray(args: argparse.Namespace) -> int:
    from .ray import connect, score_files

    if not args.input:
        raise SentscoreError("--engine ray scores files", hint="Give --input FILES_OR_FOLDERS --output FOLDER.")
    local_only = [
        flag
        for flag, given in (
            ("--blank-rows", args.blank_rows != "skip"),
            ("--safe-for-spreadsheets", args.safe_for_spreadsheets),
        )
        if given
    ]
    if local_only:
        raise SentscoreError(
            f"{' and '.join(local_only)} work with the local engine only",
            hint="With --engine ray, rows with a blank text keep empty score cells.",
        )
    ray = connect()
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # this process is the CLI's: the output keeps the input order
    context.enable_progress_bars = not args.quiet
    scored = score_files(
        args.model_dir,
        args.input,
        args.output,
        args.text_column,
        backend=args.backend,
        long_texts=args.long_texts,
        with_probs=args.probs,
        set_coverage=args.set,
        actors=args.workers if args.workers > 1 else None,
    )
    print(f"Scored {scored.rows} rows into {scored.output_dir} ({scored.file_format} files)", file=sys.stderr)
    return 0


def _score_file(scorer: Any, args: argparse.Namespace) -> int:
    rows = scorer.score_file(
        args.input[0],
        args.output,
        args.text_column,
        args.probs,
        show_progress=not args.quiet,
        set_coverage=args.set,
        blank_rows=args.blank_rows,
        safe_for_spreadsheets=args.safe_for_spreadsheets,
        workers=args.workers,
    )
    print(f"Scored {rows.rows - len(rows.blank)} rows from {args.input[0]} into {args.output}", file=sys.stderr)
    if rows.blank:
        fate = "left out" if args.blank_rows == "drop" else "left with empty score cells"
        print(f"{len(rows.blank)} rows with a blank text were {fate} (exit code {EXIT_ROWS_SKIPPED})", file=sys.stderr)
        return EXIT_ROWS_SKIPPED
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_onnx

    sentences = None
    if args.check_file:
        from .data import read_texts

        sentences = read_texts(args.check_file, args.text_column)[1]
    result = export_onnx(args.model_dir, quantize=args.quantize, overwrite=args.overwrite, check_sentences=sentences)
    print(f"Wrote {result.path} (max |logit difference| vs PyTorch: {result.max_abs_logit_diff:.1e})")
    if result.int8_path:
        print(
            f"Wrote {result.int8_path} (same prediction as fp32 on {result.int8_agreement:.1%} of the check sentences)"
        )
    print(f"sentscore predict and serve now use {(result.int8_path or result.path).name} (--backend torch for PyTorch)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    settings = ServeSettings.from_dict(ServeSettings.given_flags(args), source="sentscore serve")
    serve(args.model_dir, settings, backend=args.backend, log_level="warning" if args.quiet else "info")
    return 0


# ---- parser ----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentscore",
        description="Fine-tune a BERT-family model to score sentences, evaluate it, and score new text.",
    )
    parser.add_argument("--version", action="version", version=f"sentscore {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="Show debug messages.")
    common.add_argument("-q", "--quiet", action="store_true", help="Only warnings and errors; no progress bars.")
    common.add_argument("--debug", action="store_true", help="Show the traceback of unexpected errors.")
    parser.set_defaults(verbose=False, quiet=False, debug=False, handler=lambda _: parser.print_help())
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add_command in (_train_parser, _tune_parser, _evaluate_parser, _predict_parser, _export_parser, _serve_parser):
        add_command(commands, common)
    return parser


def _train_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    train = commands.add_parser(
        "train",
        parents=[common],
        help="Fine-tune a model on a labelled file.",
        description="Fine-tune a model. Every config key can also be given as a flag, which wins over the config file.",
    )
    train.add_argument("--config", help="JSON or YAML config (the recipe's config.json works unchanged).")
    train.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local (this process; under torchrun, each of its processes) or ray (Ray Train on the cluster of "
        "RAY_ADDRESS, else a local one).",
    )
    train.add_argument(
        "--workers",
        type=int,
        default=2,
        help="With --engine ray: training processes (default 2; GPUs with --device cuda).",
    )
    TrainConfig.add_flags(train, "training options (config keys)")
    train.set_defaults(handler=cmd_train)


def _tune_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    from .tuning import SEARCH_SPACE

    tune = commands.add_parser(
        "tune",
        parents=[common],
        help="Search hyperparameters with Optuna and write the best config.",
        description="Train trials of the config with searched hyperparameters (TPE sampler, hopeless trials "
        "stopped early), within a number of trials and a time; the study is kept in --study-dir, so running "
        "the same command again continues it.",
    )
    tune.add_argument("--config", help="The config to start from (its values are kept for keys not searched).")
    tune.add_argument("--study-dir", default="tuning", help="Where the study, best_config.json and the table go.")
    tune.add_argument("--trials", type=int, default=20, help="Finished trials the study should hold (default 20).")
    tune.add_argument("--timeout", help="Stop searching after this long (e.g. 30m, 2h); the running trial ends.")
    tune.add_argument(
        "--params", nargs="+", choices=list(SEARCH_SPACE), help="Config keys to search (default: all of them)."
    )
    tune.add_argument("--sampler-seed", type=int, default=0, help="Seed of the TPE sampler.")
    tune.add_argument("--train-best", action="store_true", help="Then train the best config into output_dir.")
    TrainConfig.add_flags(tune, "training options (config keys), kept fixed")
    tune.set_defaults(handler=cmd_tune)


def _evaluate_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    evaluate = commands.add_parser("evaluate", parents=[common], help="Metrics of a trained model on a labelled file.")
    evaluate.add_argument("model_dir", help="Folder written by `sentscore train`.")
    evaluate.add_argument("data_file", help="Labelled CSV, TSV or JSONL.")
    evaluate.add_argument("--text-column", default="sentence")
    evaluate.add_argument("--score-column", default="score")
    evaluate.add_argument("--worst", type=int, default=10, help="How many of the worst mistakes to list.")
    evaluate.add_argument("--output", help="Also write the metrics and mistakes as JSON here.")
    evaluate.add_argument(
        "--set", type=float, default=0.9, metavar="COVERAGE", help="Coverage of the score sets checked (default 0.9)."
    )
    _add_backend_flags(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)


def _predict_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    predict = commands.add_parser("predict", parents=[common], help="Score sentences or a file.")
    predict.add_argument("model_dir", help="Folder written by `sentscore train`.")
    predict.add_argument("sentences", nargs="*", help="Sentences to score.")
    predict.add_argument(
        "--input",
        nargs="+",
        help="File to score: CSV, TSV, JSONL, or text with one sentence a line. With --engine ray: files or "
        "folders of CSV, TSV, Parquet or JSONL.",
    )
    predict.add_argument(
        "--output",
        help="Where to write the scored file (format from its extension); with --engine ray, a new folder.",
    )
    predict.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local (this process, or --workers processes) or ray (the Ray cluster of RAY_ADDRESS, else a local one).",
    )
    predict.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Processes scoring --input, each with its own model and one thread (local engine; default 1). "
        "With --engine ray: actors (default: one per CPU of the cluster).",
    )
    predict.add_argument("--text-column", default="sentence", help="Column with the text (default: sentence).")
    predict.add_argument("--probs", action="store_true", help="Add the probability of every score.")
    predict.add_argument("--json", action="store_true", help="Print one JSON object per sentence.")
    predict.add_argument(
        "--set",
        type=float,
        metavar="COVERAGE",
        help="Also give the range of scores that holds the true score with this probability (e.g. 0.9), "
        "calibrated on the validation sentences (conformal prediction).",
    )
    predict.add_argument(
        "--explain",
        action="store_true",
        help="Show which words pushed each score up and which pulled it down (each word left out in turn; "
        "weights in score units, in --json too).",
    )
    predict.add_argument(
        "--blank-rows",
        choices=BLANK_ROWS,
        default="skip",
        help="Rows of --input whose text is blank: skip (empty score cells; the default), drop (left out) or "
        f"fail (stop, naming them). Skipped or dropped rows are listed and make the exit code {EXIT_ROWS_SKIPPED}.",
    )
    predict.add_argument(
        "--safe-for-spreadsheets",
        action="store_true",
        help="In the output file, start cells a spreadsheet would run as formulas (=, +, -, @) with an apostrophe.",
    )
    _add_backend_flags(predict)
    predict.set_defaults(handler=cmd_predict)


def _export_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    export = commands.add_parser(
        "export", parents=[common], help="Export a trained model to ONNX for fast CPU scoring."
    )
    export.add_argument("model_dir", help="Folder written by `sentscore train`; the ONNX files are written into it.")
    export.add_argument(
        "--quantize",
        choices=QUANTIZATIONS,
        help="Also write an int8 model, which predict, evaluate and serve then prefer: smaller and faster on CPU, "
        "but it scores a few sentences in a hundred differently from fp32 and costs some accuracy "
        "(docs/decisions.md). Without it, the fp32 export scores exactly as PyTorch does.",
    )
    export.add_argument("--check-file", help="Sentences (any data file) to compare the exports with PyTorch on.")
    export.add_argument("--text-column", default="sentence")
    export.add_argument("--overwrite", action="store_true", help="Replace existing ONNX files.")
    export.set_defaults(handler=cmd_export)


def _serve_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser("serve", parents=[common], help="Serve a model over HTTP, with a web page at /.")
    serve.add_argument("model_dir", help="Folder written by `sentscore train` (its ONNX export is used if present).")
    serve.add_argument("--backend", choices=BACKENDS, default="auto", help="auto uses an ONNX export if present.")
    ServeSettings.add_flags(serve, "server options")
    serve.set_defaults(handler=cmd_serve)


def _add_backend_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=BACKENDS, default="auto", help="auto uses an exported ONNX model when there is one."
    )
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument(
        "--long-texts",
        choices=LONG_TEXTS,
        default="windows",
        help="A text longer than the model's max_length tokens: windows (default) scores it from overlapping "
        "windows and averages them; truncate scores its start only.",
    )
