"""``sentscore evaluate``: a trained folder's metrics, decodings, score sets and worst mistakes on a labelled
file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import SentscoreError
from .common import add_backend_flags, load_scorer
from .terminal import console, print_decodings, print_metrics_table


def check_arguments(args: argparse.Namespace) -> None:
    """The options, then the file's kind and columns, before the model loads and scores the file."""
    from ..data import check_columns_first
    from ..data.labelled import check_labelled_kind

    problems = []
    if args.worst < 0:
        problems.append(f"--worst must be 0 or more, got {args.worst}")
    if args.output and Path(args.output).suffix.lower() != ".json":
        problems.append(f"--output {args.output}: the report is JSON, so its name must end in .json")
    elif args.output and Path(args.model_dir).resolve() in Path(args.output).resolve().parents:
        # config.json, sentscore.json, metrics.json, tokenizer.json: the report would replace one of the model's
        problems.append(f"--output {args.output} is in the model folder {args.model_dir}: it could replace its files")
    if not 0 < args.set < 1:
        problems.append(f"--set must be between 0 and 1 (the coverage of the score sets), got {args.set}")
    if problems:
        raise SentscoreError("; ".join(problems), hint="e.g. --worst 25 --output report.json --set 0.9")
    check_labelled_kind(args.data_file, args.text_column, args.score_column)
    check_columns_first(args.data_file, [args.text_column, args.score_column])


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate

    check_arguments(args)
    scorer = load_scorer(args)
    report = evaluate(
        args.model_dir,
        args.data_file,
        args.text_column,
        args.score_column,
        args.worst,
        scorer=scorer,
        set_coverage=args.set,
    )
    not_held_out = _not_held_out_words(report["held_out"], args.data_file)
    title = f"{args.data_file} ({report['metrics']['n']} sentences{', NOT held out' if not_held_out else ''})"
    print_metrics_table(report["metrics"], None, title=title)
    console().print(f"Scored with {report['scored_with']} ({report['backend']}) in {args.model_dir}.")
    for said in [not_held_out, *report["warnings"]]:
        if said:
            console().print(f"[bold yellow]Warning:[/bold yellow] {said}")
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
        from .. import atomic

        atomic.write_text(Path(args.output), json.dumps(report, indent=2) + "\n")
        console().print(f"Wrote {args.output}")
    return 0


def _not_held_out_words(held_out: dict, data_file: str) -> str:
    """What of the file the model has seen, in words; empty when it is all held out."""
    if not held_out["known"]:
        trained_on = held_out.get("train_file")
        if trained_on and Path(trained_on).name == Path(data_file).name:
            return f"the model was trained on a file named {trained_on}: these figures may not be held out."
        return ""
    seen = [
        f"{held_out[key]} {'was' if held_out[key] == 1 else 'were'} {words}"
        for key, words in (("trained_on", "trained on"), ("validated_on", "used for validation"))
        if held_out[key]
    ]
    if not seen:
        return ""
    n = held_out["held_out"]
    rest = "None is held out" if n == 0 else f"Only {n} {'is' if n == 1 else 'are'} held out"
    return (
        f"of these {held_out['sentences']} sentences, {' and '.join(seen)}: these figures flatter the model. "
        f"{rest}; evaluate on a file the model never saw (a test_file)."
    )


def add_evaluate_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    evaluate = commands.add_parser("evaluate", parents=[common], help="Metrics of a trained model on a labelled file.")
    evaluate.add_argument("model_dir", help="Folder written by `sentscore train`.")
    evaluate.add_argument("data_file", help="Labelled CSV, TSV or JSONL.")
    evaluate.add_argument("--text-column", default="sentence", help="Column with the text (default: sentence).")
    evaluate.add_argument(
        "--score-column", default="score", help="Column with the true score or label (default: score)."
    )
    evaluate.add_argument("--worst", type=int, default=10, help="How many of the worst mistakes to list (default: 10).")
    evaluate.add_argument("--output", help="Also write the metrics and mistakes as JSON here.")
    evaluate.add_argument(
        "--set", type=float, default=0.9, metavar="COVERAGE", help="Coverage of the score sets checked (default 0.9)."
    )
    add_backend_flags(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)
