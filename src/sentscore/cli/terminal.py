"""What the ``sentscore`` command prints: errors with their hint, metric tables, explanations, and the logging
setup. Only the CLI uses it (it owns its process, so it may configure logging)."""

from __future__ import annotations

import logging
import os
from typing import Any


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def print_error(message: str, hint: str | None) -> None:
    from rich.markup import escape

    errors = console(stderr=True)
    # soft_wrap: the terminal wraps long lines, so that a command in a hint copies as one line.
    errors.print(f"[bold red]Error:[/bold red] {escape(message)}", soft_wrap=True)
    if hint:
        errors.print(f"[yellow]Hint:[/yellow] {escape(hint)}", soft_wrap=True)


def print_metrics_table(metrics: dict[str, Any], baseline: dict[str, Any] | None, title: str) -> None:
    from rich.table import Table

    from ..metrics import METRIC_NAMES
    from ..model.card import format_interval, format_metric

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("model", justify="right")
    table.add_column("95% interval", justify="right")
    if baseline is not None:
        predicts = baseline.get("predicts", {})
        said = "/".join(str(predicts[k]) for k in ("accuracy", "distance") if k in predicts)
        table.add_column(f"baseline (always {said})" if said else "baseline", justify="right")
    for key, name in METRIC_NAMES.items():
        if key in metrics:
            row = [name, format_metric(metrics[key]), format_interval(metrics.get("intervals"), key)]
            if baseline is not None:
                row.append(format_metric(baseline.get(key)))
            table.add_row(*row)
    console().print(table)


def print_decodings(decodings: dict[str, dict[str, Any]]) -> None:
    """The headline metrics of each way of turning the probabilities into one score, side by side."""
    if not decodings:
        return
    from rich.table import Table

    from ..metrics import METRIC_NAMES
    from ..model.card import format_metric

    table = Table(title="Decoding: the most likely score, the rounded expected score, the median score")
    table.add_column("metric")
    for how in decodings:
        table.add_column(how, justify="right")
    for key in next(iter(decodings.values())):
        table.add_row(METRIC_NAMES[key], *(format_metric(found[key]) for found in decodings.values()))
    console().print(table)


def setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    try:
        from rich.console import Console
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=Console(stderr=True), show_path=False, show_time=False)
    except ImportError:  # pragma: no cover
        handler = logging.StreamHandler()
    logging.basicConfig(level=logging.WARNING, handlers=[handler], format="%(message)s", force=True)
    # Under a multi-process launcher (torchrun, accelerate launch), the other processes speak only of errors.
    logging.getLogger("sentscore").setLevel(level if int(os.environ.get("RANK", "0")) == 0 else logging.ERROR)


def print_explanation(explanation: list[Any], shown: int = 3) -> None:
    """The sentence with the words that pushed its score up in green and down in red (when the terminal shows
    colour; shades relative to the strongest word, or to a quarter of a level), then the strongest of each by
    name, so that the plain text says the same."""
    from rich.console import Console
    from rich.text import Text

    strongest = max([0.25] + [abs(w.weight) for w in explanation])  # so that noise stays uncoloured
    text = Text("  why    ")
    for word in explanation:
        share = abs(word.weight) / strongest
        style = "" if share < 0.2 else ("green" if word.weight > 0 else "red") + (" bold" if share >= 0.6 else "")
        text.append(word.word, style=style)
        text.append(" ")
    Console(highlight=False, soft_wrap=True).print(text)
    ranked = sorted(explanation, key=lambda w: w.weight)
    up = [f"{w.word} ({w.weight:+.2f})" for w in reversed(ranked[-shown:]) if w.weight > 0]
    down = [f"{w.word} ({w.weight:+.2f})" for w in ranked[:shown] if w.weight < 0]
    print(f"  up     {', '.join(up) or '-'}\n  down   {', '.join(down) or '-'}")
