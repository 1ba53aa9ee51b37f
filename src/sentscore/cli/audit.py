"""``sentscore audit``: the labelled rows whose score is probably wrong, by cross-validating a recipe (``--config``,
or training flags alone, as ``train`` takes them) or from one trained model on a labelled file
(``MODEL_DIR DATA_FILE``)."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from ..config import TrainConfig
from ..errors import SentscoreError
from .common import EXIT_INTERRUPTED, recipe_from
from .terminal import console, print_error

#: The two ways to call it, for hints.
BOTH_WAYS = (
    "sentscore audit --train-file labels.csv (or --config config.json)   or   sentscore audit MODEL_DIR labels.csv"
)


def cmd_audit(args: argparse.Namespace) -> int:
    from ..auditing import audit

    source = _what_to_audit(args)
    if args.dry_run:
        return _dry_run(source, args.folds) if isinstance(source, TrainConfig) else _refuse_dry_run()
    from ..training.recipe import TrainingInterrupted
    from .train import stop_on_signals

    options = {"folds": args.folds, "audit_dir": args.audit_dir, "output": args.output, "cleaned": args.cleaned}
    columns = {"text_column": args.text_column or "sentence", "score_column": args.score_column or "score"}
    try:
        result = audit(source, args.data_file, **options, **columns, resume=bool(args.resume), stop=stop_on_signals())
    except TrainingInterrupted:
        command = " ".join(shlex.quote(a) for a in ["sentscore", *sys.argv[1:]] if a != "--resume")
        print_error(
            f"The audit was interrupted; its finished folds are kept in {args.audit_dir}.",
            f"Continue where it stopped with: {command} --resume",
        )
        return EXIT_INTERRUPTED
    print_audit(result)
    return 0


def _what_to_audit(args: argparse.Namespace) -> TrainConfig | str:
    """The recipe to cross-validate (``--config``, or training flags alone, as ``train`` takes them), or one
    trained model folder (``MODEL_DIR DATA_FILE``)."""
    overrides = {k: v for k, v in TrainConfig.given_flags(args).items() if k != "resume"}
    if args.model_dir and args.config:
        raise SentscoreError(
            "Give --config (cross-validate its recipe) or MODEL_DIR DATA_FILE (one model's view of a file), not both",
            hint=BOTH_WAYS,
        )
    if args.model_dir and not args.data_file:
        raise SentscoreError(f"Give the labelled file for the model in {args.model_dir} to check", hint=BOTH_WAYS)
    if not args.model_dir:
        return recipe_from(args, overrides)
    unused = [f"--{k.replace('_', '-')}" for k in overrides if k not in ("text_column", "score_column")]
    if unused:
        raise SentscoreError(
            f"{', '.join(unused)} set{'s' if len(unused) == 1 else ''} how the folds of a cross-validated audit "
            f"train; {args.model_dir} is trained already",
            hint=f"Leave {'it' if len(unused) == 1 else 'them'} out, or cross-validate the recipe: {BOTH_WAYS}",
        )
    return args.model_dir


def _refuse_dry_run() -> int:
    raise SentscoreError(
        "--dry-run estimates a cross-validated audit (a recipe, not a model folder)", hint="Leave out --dry-run."
    )


def _dry_run(config: TrainConfig, folds: int) -> int:
    from ..auditing.folds import estimate

    pool, plan = estimate(config, folds)
    per_fold = plan.seconds
    console().print(
        f"Audit of {len(pool.data)} labelled rows in {folds} folds: each fold trains on about "
        f"{len(pool.data) * (folds - 1) // folds} rows ({plan.steps_per_epoch} steps an epoch, "
        f"{plan.config.num_train_epochs:g} epochs) and scores the rest. Expected on {plan.device}: about "
        f"{per_fold:.0f} s a fold, {folds * per_fold / 60:.1f} min in all (timed on a few steps). Nothing was "
        "trained; run the same command without --dry-run to audit."
    )
    return 0


def print_audit(result: Any) -> None:
    from rich.table import Table

    found, out = result.summary, console()
    levels = Table(title=f"{found['flagged']} of {found['rows']} rows flagged ({found['share_flagged']:.1%})")
    for column in ("given score", "rows", "flagged", "estimated wrong"):
        levels.add_column(column, justify="right")
    for label, level in found["per_level"].items():
        levels.add_row(label, str(level["rows"]), str(level["flagged"]), f"{level['estimated_wrong']:.1%}")
    out.print(levels)
    suspects = result.table[result.table["flagged"]].head(10)
    if len(suspects):
        text = next(c for c in result.table.columns if c not in ("row", "file"))
        worst = Table(title="The most suspect rows (all of them in the table)")
        for column in ("row", "given", "suggested", "quality", "sentence"):
            worst.add_column(column, overflow="fold")
        for _, row in suspects.iterrows():
            quality = f"{row['label_quality']:.3f}"
            worst.add_row(
                str(row["row"]), str(row["given_score"]), str(row["suggested_score"]), quality, str(row[text])
            )
        out.print(worst)
    out.print(f"Wrote {result.output}, and the summary and a plot to {result.folder} ({found['seconds']:.0f} s).")


def add_audit_parser(commands: Any, common: argparse.ArgumentParser, config_file: tuple[Any, str] = (None, "")) -> None:
    from ..auditing import DEFAULT_FOLDS

    audit = commands.add_parser(
        "audit",
        parents=[common],
        help="Find the labelled rows whose score is probably wrong.",
        description="Rank the labelled rows by how likely their score is wrong (cleanlab), from probabilities of "
        "models that never saw them: --config (or the training flags alone, as train takes them) cross-validates "
        "the recipe over its train_file and validation_file; MODEL_DIR DATA_FILE uses one trained model on a file "
        "it was not trained on.",
    )
    audit.add_argument("model_dir", nargs="?", help="A trained model folder (without --config or training flags).")
    audit.add_argument("data_file", nargs="?", help="A labelled file for that model to check (without --config).")
    audit.add_argument("--config", help="The training config whose labelled rows are audited by cross-validation.")
    audit.add_argument(
        "--folds", type=int, default=DEFAULT_FOLDS, help=f"Folds of the cross-validation (default {DEFAULT_FOLDS})."
    )
    audit.add_argument(
        "--audit-dir", default="audit", help="Where the folds, the summary and the plot go (default: audit)."
    )
    audit.add_argument(
        "--output",
        help="The table of rows, most suspect first: .csv, .tsv or .jsonl (default: AUDIT_DIR/label_issues.csv).",
    )
    audit.add_argument("--cleaned", help="Also write the audited rows without the flagged ones to this file.")
    audit.add_argument(
        "--dry-run", action="store_true", help="Estimate the audit's time (a fold's training timed on a few steps)."
    )
    TrainConfig.add_flags(
        audit, "training options (config keys) for every fold; --resume continues an interrupted audit", *config_file
    )
    audit.set_defaults(handler=cmd_audit)
