"""BENCHMARKS.md's section on auditing labels (issue 42), from the runs ``bench.audit`` stored."""

from __future__ import annotations

import json
from typing import Any

from .common import RESULTS

REAL = RESULTS / "audit_real.json"


def show(runs: list[dict[str, Any]]) -> None:
    keys = ("auprc_all", "auprc_distant", "auprc_neighbour", "flagged", "precision", "recall_distant", "seconds")
    print("| data | seed | method | " + " | ".join(keys) + " |")
    print("|---|---|---|" + "---:|" * len(keys))
    for r in runs:
        for method in ("cleanlab_recipe", "one_model_loss", "sentscore_audit"):
            cells = [f"{r[method][k]:.3f}" if isinstance(r[method][k], float) else str(r[method][k]) for k in keys]
            print(f"| {r['data']} | {r['seed']} | {method} | " + " | ".join(cells) + " |")


METHODS = {
    "cleanlab_recipe": "(a) cleanlab's text recipe",
    "one_model_loss": "(b) one model's loss",
    "sentscore_audit": "(c) sentscore audit",
}


DEFAULT_RULE = "expected distance >= 1 level (the default)"


def compare_lines(runs: list[dict[str, Any]]) -> list[str]:
    """The rankings and flag rules compared on the audit's own held-out probabilities (``compare``)."""
    lines = [
        "",
        "The same held-out probabilities of (c), ranked and flagged other ways (`python -m bench.audit compare`): "
        "cleanlab's three label-quality scores and the ordinal expected distance E|k - given| as rankings; "
        "cleanlab's confident learning against flagging the rows whose expected distance is at least one level.",
        "",
        "| data | seed | ranking or flag rule | AUPRC all | AUPRC distant | AUPRC neighbour | flagged | precision | "
        "distant flagged | neighbours flagged |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        for name, m in r.get("rankings", {}).items():
            aucs = f"{m['auprc_all']:.3f} | {m['auprc_distant']:.3f} | {m['auprc_neighbour']:.3f}"
            lines.append(f"| {r['data']} | {r['seed']} | ranking: {name} | {aucs} | | | | |")
        for name, m in r.get("flag_rules", {}).items():
            shares = f"{m['precision']:.3f} | {m['recall_distant']:.1%} | {m['recall_neighbour']:.1%}"
            flagged = f"{m['flagged']} ({m['flagged_share']:.0%})"
            lines.append(f"| {r['data']} | {r['seed']} | flagged: {name} | | | | {flagged} | {shares} |")
    return lines


def audit_section(runs: list[dict[str, Any]]) -> list[str]:
    """BENCHMARKS.md's section: each stored draw, the three rankings side by side, and the targets."""
    runs = sorted(runs, key=lambda r: (r.get("rate", 0.1), r["data"] != "sst5", r["seed"]))
    runs = [{**r, "data": f"{r['data']}, {r['rate']:.0%} moved"} if "rate" in r else r for r in runs]
    lines = [
        "## Auditing labels: finding injected errors (`python -m bench.audit`)",
        "",
        "10% of a training file's rows (30% where the data column says so) moved to another level (half to a "
        "neighbour, half to any other level at "
        "random, so some of those land on a neighbour too), then ranked by (a) cleanlab's own text recipe (frozen "
        "embeddings of the bundled model, logistic regression, 5-fold probabilities, `find_label_issues`), (b) the "
        "loss of one model trained with the defaults on every row (its flagged rows: as many as (c) flags) and (c) "
        "`sentscore audit` with the defaults (5 folds). AUPRC: area under the precision-recall curve of the "
        "ranking against the moved rows; distant: moved two levels or more (the neighbours left out), neighbour: "
        "moved one level (the distant ones left out). Precision against injected rows is a lower bound: the files "
        "hold errors of their own. Seconds: the whole method, on the machine named. (c)'s flagged rows are as "
        "that run flagged them (the seed-42 runs, made first, by cleanlab's confident learning); both rules on "
        "every run's probabilities are in the second table.",
        "",
        "| data | seed | machine | method | AUPRC all | AUPRC distant | AUPRC neighbour | flagged | precision | "
        "distant flagged | seconds |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        for key, name in METHODS.items():
            m = r[key]
            if "flagged_by" in m:
                name = f"{name} (flagged by {m['flagged_by']})"
            lines.append(
                f"| {r['data']} ({r['rows']} rows, {r['moved']} moved) | {r['seed']} | {r.get('cpu', '')} | {name} | "
                f"{m['auprc_all']:.3f} | {m['auprc_distant']:.3f} | {m['auprc_neighbour']:.3f} | {m['flagged']} "
                f"({m['flagged_share']:.0%}) | {m['precision']:.3f} | {m['recall_distant']:.1%} | {m['seconds']:.0f} |"
            )
    lines += compare_lines(runs) + bound_lines(runs) + folds_lines(runs) + cleaning_lines(runs)
    lines += ["", "Targets (issue 42), per draw, with the default flag rule:", ""]
    for r in runs:
        a, c = r["cleanlab_recipe"], r["sentscore_audit"]
        c = {**c, **r.get("flag_rules", {}).get(DEFAULT_RULE, {})}
        lines.append(
            f"- {r['data']} seed {r['seed']}: AUPRC over all moved rows {c['auprc_all']:.3f} against (a)'s "
            f"{a['auprc_all']:.3f}, {100 * (c['auprc_all'] - a['auprc_all']):+.1f} points (target +10: "
            f"{'met' if c['auprc_all'] - a['auprc_all'] >= 0.10 else '**not met**'}); distant moves flagged "
            f"{c['recall_distant']:.1%} (target 85%: {'met' if c['recall_distant'] >= 0.85 else '**not met**'}) "
            f"flagging {c['flagged']} rows against (a)'s {a['flagged']} "
            f"({'met' if c['flagged'] <= a['flagged'] else '**not met**'}); audit time "
            f"{c['seconds']:.0f} s, {c['seconds'] / r['one_model_loss']['seconds']:.1f}× one training with its "
            "scoring ((b)), target ≤ 5×."
        )
    return [*lines, *real_lines(), ""]


def bound_lines(runs: list[dict[str, Any]]) -> list[str]:
    """How far the AUPRC over all moved rows can go when only one kind of error is found better."""
    lines = [
        "",
        "Which errors the AUPRC over all moved rows turns on (`compare`): (c)'s ranking, and the same ranking with "
        "the distant moves (or the neighbours) put perfectly first. About 70% of the moved rows land on a "
        "neighbour, where people's own scores disagree most.",
        "",
        "| data | seed | moved (distant) | (a) | (c) | (c), distant moves perfectly first | "
        "(c), neighbours perfectly first |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in runs:
        if "bounds" in r:
            b = r["bounds"]
            lines.append(
                f"| {r['data']} | {r['seed']} | {r['moved']} ({r.get('distant', '')}) | "
                f"{r['cleanlab_recipe']['auprc_all']:.3f} | {r['sentscore_audit']['auprc_all']:.3f} | "
                f"{b['distant_first']:.3f} | {b['neighbours_first']:.3f} |"
            )
    return lines


def folds_lines(runs: list[dict[str, Any]]) -> list[str]:
    """The audit with other numbers of folds (``bench.audit folds``) beside the default 5."""
    rows = [r for r in runs if r.get("other_k")]
    if not rows:
        return []
    lines = [
        "",
        "The number of folds (`python -m bench.audit folds --folds K`): the same draw audited with k folds, flagged "
        "by the default rule.",
        "",
        "| data | seed | k | AUPRC all | AUPRC distant | flagged | distant flagged | seconds |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        five = {**r["sentscore_audit"], **r.get("flag_rules", {}).get(DEFAULT_RULE, {})}
        for k, m in sorted({"5": five, **r["other_k"]}.items(), key=lambda item: int(item[0])):
            lines.append(
                f"| {r['data']} | {r['seed']} | {k} | {m['auprc_all']:.3f} | {m['auprc_distant']:.3f} | "
                f"{m['flagged']} ({m['flagged_share']:.0%}) | {m['recall_distant']:.1%} | {m['seconds']:.0f} |"
            )
    return lines


def cleaning_lines(runs: list[dict[str, Any]]) -> list[str]:
    """Does cleaning pay (``bench.audit clean``): the defaults trained on the noisy, cleaned and clean files."""
    rows = [r for r in runs if r.get("cleaning")]
    if not rows:
        return []
    lines = [
        "",
        "Does cleaning pay (`python -m bench.audit clean`): the defaults (same seed) trained on the noisy file, on "
        "the file `--cleaned` wrote (the noisy file without (c)'s flagged rows) and on the clean original, each "
        "scored on the data set's dev file; beside it, a stricter rule measured: the noisy file without only the rows "
        "the held-out model expects two levels or more away. Last column: dev accuracy against the noisy file's, in "
        "points (for the clean original: what the noise cost). The target (the cleaned file wins back at least half "
        "of what the noise cost) asks the noise to cost something first.",
        "",
        "| data | seed | trained on | dev accuracy | macro-F1 | QWK | MAE | against noisy |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        c = r["cleaning"]
        for name in ("noisy", "cleaned", "cleaned_distant", "clean"):
            if name not in c:
                continue
            m = c[name]
            what = {
                "cleaned": f"`--cleaned`: without the flagged rows ({c['rows_left_out']})",
                "cleaned_distant": f"without the rows expected ≥ 2 levels away ({c.get('distant_left_out')})",
            }.get(name, name)
            gain = "" if name == "noisy" else f"{100 * (m['accuracy'] - c['noisy']['accuracy']):+.1f}"
            lines.append(
                f"| {r['data']} | {r['seed']} | {what} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['qwk']:.3f} | "
                f"{m['mae']:.3f} | {gain} |"
            )
    return lines


def real_lines() -> list[str]:
    """The most suspect rows of an unmodified training file (``bench.audit real``), for a reader to judge."""
    if not REAL.is_file():
        return []
    found = json.loads(REAL.read_text())
    lines = [
        "",
        f"The {len(found['top'])} most suspect rows of the unmodified {found['data']} training file (`python -m "
        f"bench.audit real --data {found['data']}`, seed {found['seed']}): {found['flagged']} of {found['rows']} "
        f"rows flagged, {found['seconds']:.0f} s. Judge them by reading; docs/auditing.md discusses them.",
        "",
        "| row | sentence | given | suggested | label quality | expected distance |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for t in found["top"]:
        text = str(t["sentence"]).replace("|", "\\|")
        lines.append(
            f"| {t['row']} | {text} | {t['given_score']} | {t['suggested_score']} | {t['label_quality']:.3f} | "
            f"{t['expected_distance']:.2f} |"
        )
    return lines
