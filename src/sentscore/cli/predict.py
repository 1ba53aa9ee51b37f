"""``sentscore predict``: sentences from the command line, or a file (in this process, several, or on Ray)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..data import BLANK_ROWS, check_columns_first
from ..errors import SentscoreError
from .common import ENGINES, EXIT_ROWS_SKIPPED, add_backend_flags, load_scorer
from .terminal import print_explanation


def cmd_predict(args: argparse.Namespace) -> int:
    args.from_stdin = args.sentences == ["-"]
    if args.from_stdin:
        args.sentences = _read_stdin()
    check_flags(args)
    if args.engine == "ray":
        return _score_with_ray(args)
    if args.input and len(args.input) > 1:
        raise SentscoreError(
            f"--input takes one file with the local engine, got {len(args.input)}",
            hint="Score them one by one, or all at once with --engine ray --output FOLDER.",
        )
    if args.input:
        check_columns_first(args.input[0], [args.text_column])  # before the model loads
        return _score_file(load_scorer(args), args)
    return _print_predictions(load_scorer(args), args)


def _read_stdin() -> list[str]:
    """The sentences of ``sentscore predict MODEL -``: standard input, one a line; a blank line is a blank
    sentence (answered as --blank-rows says), so that the answers stay line for line with the input."""
    if sys.stdin is None or sys.stdin.isatty():
        raise SentscoreError(
            "'-' reads sentences from standard input, one a line, but nothing is piped in",
            hint="cat reviews.txt | sentscore predict MODEL_DIR -",
        )
    sentences = stdin_lines(sys.stdin.buffer.read())
    if not sentences:
        raise SentscoreError("Standard input is empty", hint="Pipe in text with one sentence a line.")
    return sentences


def stdin_lines(raw: bytes) -> list[str]:
    """Standard input's lines, read as files are: UTF-8 (a byte-order mark ignored) whatever the terminal's
    locale, and ended by \\n, \\r\\n or \\r; bytes that are not UTF-8 are refused, naming their line."""
    import io

    from ..data.readers import undecodable_place

    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise SentscoreError(
            f"Standard input is not valid UTF-8 text: {undecodable_place(raw, 'line')} cannot be decoded",
            hint="Convert it to UTF-8 first (e.g. iconv -f latin1 -t utf-8 for Latin-1 text).",
        ) from None
    return [line.rstrip("\r\n") for line in io.StringIO(text, newline=None)]


def _given_sentences(args: argparse.Namespace) -> Any:
    """The sentences given as arguments or on standard input, checked: blank ones per --blank-rows."""
    from ..data.inputs import sentences_in

    where = "line" if args.from_stdin else "sentence"
    hint = (
        "Fill in or delete the blank lines, or leave out --blank-rows fail (a blank one then gets an empty answer)."
        if args.from_stdin
        else "Give text to score in each one (an empty argument is often an unset shell variable)."
    )
    return sentences_in(args.sentences, args.blank_rows, where, blank_hint=hint)


def check_flags(args: argparse.Namespace) -> None:
    """Refuse flags that do not go together, before the model loads."""
    if not args.input and not args.sentences:
        raise SentscoreError(
            "Give sentences to score, --input FILE, or '-' to read them from standard input",
            hint='sentscore predict MODEL_DIR "a sentence"  or  sentscore predict MODEL_DIR --input in.csv  or  '
            "cat reviews.txt | sentscore predict MODEL_DIR -",
        )
    if args.input and args.sentences:
        shown = ", ".join(repr(s) for s in args.sentences[:3]) + (", ..." if len(args.sentences) > 3 else "")
        raise SentscoreError(
            f"Give either sentences to score or --input FILE, not both (got --input and {shown})",
            hint="Each --input takes one file: repeat --input for another (with --engine ray).",
        )
    if args.input and args.explain:
        raise SentscoreError(
            "--explain works on sentences given on the command line, not on --input files",
            hint='Explain a few sentences: sentscore predict MODEL_DIR --explain "a sentence"',
        )
    if args.output and not args.input:
        raise SentscoreError("--output needs --input", hint="Give the file to score with --input.")
    if args.input and args.output and args.engine == "local":
        from ..data import table_format

        table_format(args.output)
    if args.engine == "ray" and args.input and not args.output:
        raise SentscoreError("--engine ray writes a folder of scored files", hint="Add --output FOLDER.")
    # checked before the model loads (--blank-rows fail stops here), and answered from in _print_predictions
    args.given = _given_sentences(args) if args.sentences else None
    if args.set is not None:
        from ..model.conformal import check_coverage

        check_coverage(args.set)
    if args.workers < 1:
        raise SentscoreError(f"--workers must be at least 1, got {args.workers}")
    if args.device != "cpu" and (args.workers > 1 or args.engine == "ray"):
        raise SentscoreError(
            f"--device {args.device} scores in this process; --workers and --engine ray score in CPU processes",
            hint="On a GPU, leave out --workers and --engine ray: one process feeds it large batches.",
        )


def _print_predictions(scorer: Any, args: argparse.Namespace) -> int:
    """One line per sentence, in their order, the same shape for one sentence as for many:
    ``Score: N<TAB>sentence``; with --quiet the bare score; with --json a JSON object. A blank sentence gets
    ``Score: -`` (an empty line with --quiet, ``"score": null`` in JSON), or none with --blank-rows drop, and
    the exit code says that some were not scored."""
    given = args.given
    predictions = scorer.predict(given.texts, set_coverage=args.set, blank_rows="skip")
    explanations = scorer.explain(given.texts, blank_rows="skip") if args.explain else [None] * len(predictions)
    dropped = set(given.blank) if args.blank_rows == "drop" else set()
    for index, (sentence, prediction, explanation) in enumerate(
        zip(args.sentences, predictions, explanations, strict=True)
    ):
        if index in dropped:
            continue
        if args.json:
            extra = {} if explanation is None else {"explanation": [w.to_dict() for w in explanation]}
            print(json.dumps({"sentence": sentence, **prediction.to_dict(args.probs), **extra}))
            continue
        if prediction.blank:
            print("" if args.quiet else f"Score: -\t{sentence}")
            continue
        score_set = "" if prediction.set_text is None else f"  ({args.set:.0%} set: {prediction.set_text})"
        if args.quiet:
            print(f"{prediction.score}{score_set}")
        else:
            print(f"Score: {prediction.score}{score_set}\t{sentence}")
        if args.probs:
            probs = "  ".join(f"{k}: {v:.3f}" for k, v in prediction.probs.items())
            expected = "" if prediction.expected_score is None else f"  expected: {prediction.expected_score:.2f}"
            print(f"  probs  {probs}{expected}")
        if explanation is not None:
            print_explanation(explanation)
    if given.blank:
        from ..data.inputs import positions_named

        where = "line" if args.from_stdin else "sentence"
        fate = "left out" if args.blank_rows == "drop" else "not scored"
        print(
            f"{positions_named(given.blank, where)} of {len(given.texts)} {'is' if len(given.blank) == 1 else 'are'} "
            f"blank: {fate} (exit code {EXIT_ROWS_SKIPPED}; --blank-rows fail refuses them)",
            file=sys.stderr,
        )
        return EXIT_ROWS_SKIPPED
    return 0


def _score_with_ray(args: argparse.Namespace) -> int:
    from ..integrations.ray import connect, score_files

    if not args.input:
        raise SentscoreError("--engine ray scores files", hint="Give --input FILES_OR_FOLDERS --output FOLDER.")
    local_only = [
        flag
        for flag, given in (
            ("--blank-rows", args.blank_rows != "skip"),
            ("--safe-for-spreadsheets", args.safe_for_spreadsheets),
            ("--onnx-file", args.onnx_file is not None),
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
    done = scored.rows - scored.blank
    rows = f"{done} row{'' if done == 1 else 's'}"
    print(f"Scored {rows} into {scored.output_dir} ({scored.file_format} files)", file=sys.stderr)
    if scored.blank:  # as the local engine says it
        count = f"{scored.blank} row{'s' if scored.blank > 1 else ''} with a blank text"
        print(
            f"{count} {'were' if scored.blank > 1 else 'was'} left with empty score cells "
            f"(exit code {EXIT_ROWS_SKIPPED})",
            file=sys.stderr,
        )
        return EXIT_ROWS_SKIPPED
    return 0


def _score_file(scorer: Any, args: argparse.Namespace) -> int:
    """Score ``--input`` into ``--output``, or, without it, print the scored table as CSV."""
    if args.output:
        rows = _score_file_into(scorer, args, args.output)
        scored = rows.rows - len(rows.blank)
        print(
            f"Scored {scored} row{'' if scored == 1 else 's'} from {args.input[0]} into {args.output}", file=sys.stderr
        )
    else:
        import shutil
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            scored = Path(folder) / "scored.csv"
            rows = _score_file_into(scorer, args, scored)
            with scored.open(encoding="utf-8", newline="") as table:
                shutil.copyfileobj(table, sys.stdout)
            sys.stdout.flush()
    if rows.blank:
        fate = "left out" if args.blank_rows == "drop" else "left with empty score cells"
        count = f"{len(rows.blank)} row{'s' if len(rows.blank) > 1 else ''} with a blank text"
        print(
            f"{count} {'were' if len(rows.blank) > 1 else 'was'} {fate} (exit code {EXIT_ROWS_SKIPPED})",
            file=sys.stderr,
        )
        return EXIT_ROWS_SKIPPED
    return 0


def _score_file_into(scorer: Any, args: argparse.Namespace, output: str | Path) -> Any:
    return scorer.score_file(
        args.input[0],
        output,
        args.text_column,
        args.probs,
        show_progress=not args.quiet and args.output is not None,
        set_coverage=args.set,
        blank_rows=args.blank_rows,
        safe_for_spreadsheets=args.safe_for_spreadsheets,
        workers=args.workers,
    )


def add_predict_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    predict = commands.add_parser("predict", parents=[common], help="Score sentences or a file.")
    predict.add_argument("model_dir", help="Folder written by `sentscore train`.")
    predict.add_argument(
        "sentences", nargs="*", help="Sentences to score; - reads them from standard input, one a line."
    )
    predict.add_argument(
        "--input",
        action="append",
        metavar="FILE",
        help="File to score: CSV, TSV, JSONL, or text with one sentence a line. With --engine ray: a file or "
        "folder of CSV, TSV, Parquet or JSONL; repeat --input for several.",
    )
    predict.add_argument(
        "--output",
        help="Where to write the scored file: .csv, .tsv or .jsonl (default: CSV on standard output); with "
        "--engine ray, a new folder.",
    )
    _add_file_flags(predict)
    predict.add_argument("--probs", action="store_true", help="Add the probability of every score.")
    predict.add_argument("--json", action="store_true", help="Print one JSON object per sentence.")
    predict.add_argument(
        "--set",
        type=float,
        metavar="COVERAGE",
        help="Also give the set of likeliest scores that holds the true score with this probability (e.g. 0.9; "
        "'3-4', or '1 or 5' where the model is torn), "
        "calibrated on the validation sentences (conformal prediction).",
    )
    predict.add_argument(
        "--explain",
        action="store_true",
        help="Show which words pushed each score up and which pulled it down (each word left out in turn; "
        "weights in score units, in --json too).",
    )
    add_backend_flags(predict)
    predict.set_defaults(handler=cmd_predict)


def _add_file_flags(predict: argparse.ArgumentParser) -> None:
    """The flags of ``--input`` files: how they are scored and where."""
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
    predict.add_argument(
        "--blank-rows",
        choices=BLANK_ROWS,
        default="skip",
        help="Blank texts (an empty cell or line, an empty argument): skip (an empty answer in their place: empty "
        "score cells, 'Score: -'; the default), drop (left out) or fail (stop, naming them). Skipped or dropped "
        f"ones are listed and make the exit code {EXIT_ROWS_SKIPPED}.",
    )
    predict.add_argument(
        "--safe-for-spreadsheets",
        action="store_true",
        help="In the output file, start cells a spreadsheet would run as formulas (=, +, -, @) with an apostrophe.",
    )
