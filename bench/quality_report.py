"""The quality section of BENCHMARKS.md: bench/results/quality/*.json as mean ± std over seeds, and the
quality issue's targets checked against the defaults."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

DATA_NAMES = {
    "sst5": "SST-5 dev (movie sentences, 1101)",
    "semeval_4c": "SemEval-2016 4C dev (tweets, 2000, very imbalanced)",
    "sst5_64": "SST-5 dev after training on 64 sentences per level (320 in all)",
    "semeval_4c_320": "SemEval-2016 4C dev after training on 320 tweets drawn at random (stratified by level)",
    "sst5_8": "SST-5 dev after training on 8 sentences per level (40 in all), SetFit beside",
    "semeval_4c_8": "SemEval-2016 4C dev after training on 8 tweets per level (40 in all), SetFit beside",
    "semeval_4c_64": "SemEval-2016 4C dev after training on 64 tweets per level (320 in all), SetFit beside",
}
COLUMNS = (("accuracy", "accuracy"), ("macro_f1", "macro-F1"), ("qwk", "QWK"), ("mae", "MAE"), ("ece", "ECE"))


def grouped(results: list[dict[str, Any]]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """data set -> configuration -> its runs (one per seed, a seed run under two names that mean the same counted
    once)."""
    groups: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for run in results:
        runs = groups[run["data"]][label(run)]
        if run["seed"] not in {other["seed"] for other in runs}:
            runs.append(run)
    for configs in groups.values():
        for runs in configs.values():
            runs.sort(key=lambda run: run["seed"])
    return groups


def label(run: dict[str, Any]) -> str:
    """A run's configuration as the report shows it: the explicit configuration the defaults resolve to under
    "defaults"; a run of the defaults made before sentscore 0.3, whose pooling was mean, under "0.2 defaults (mean
    pooling)", in any configuration named after the defaults; and marked when it trained in bf16 (a CPU with
    native bf16 does by default), so that its seeds are never averaged with fp32 runs of the same name."""
    from .quality import DEFAULTS_0_2, SAME_AS_DEFAULTS, SAME_AS_DEFAULTS_0_2

    name = {SAME_AS_DEFAULTS: "defaults", SAME_AS_DEFAULTS_0_2: DEFAULTS_0_2}.get(run["config"], run["config"])
    pooled = (run.get("resolved_config") or {}).get("pooling")
    few_label_path = (run.get("resolved_config") or {}).get("num_train_epochs") == 0  # mean pooling too (0.5)
    if (
        "defaults" in name.split(", ")
        and pooled == "mean"
        and "pooling" not in (run.get("overrides") or {})
        and not few_label_path
    ):
        name = name.replace("defaults", DEFAULTS_0_2, 1)
    in_bf16 = (run.get("resolved_config") or {}).get("bf16")
    return f"{name}, bf16" if in_bf16 else name


def spread(values: list[float]) -> str:
    """Mean ± sample standard deviation ("0.4812 ± 0.0061"), the mean alone for one value."""
    mean = statistics.fmean(values)
    return f"{mean:.4f} ± {statistics.stdev(values):.4f}" if len(values) > 1 else f"{mean:.4f}"


def mean_of(runs: list[dict[str, Any]], key: str, part: str = "dev") -> float:
    return statistics.fmean(run[part][key] for run in runs)


def quality_section(results: list[dict[str, Any]]) -> list[str]:
    if not results:
        return []
    machines = sorted({run["cpu"] for run in results})
    started = sorted(run["started"] for run in results)
    rows = [
        "## Quality",
        "",
        f"`python -m bench.quality all` ({started[0]} to {started[-1]}, on {', '.join(machines)}, one torch "
        "thread per run, two to five processes at a time on 2 cores, so training seconds compare only roughly): "
        "each configuration trained on the set's train.csv (validated on "
        "its own 20% split), then the dev file scored with `sentscore evaluate`. Mean ± standard deviation "
        "over the seeds; ECE is the expected calibration error; the score sets are the 90% conformal sets "
        "(coverage on dev and mean size in levels); training seconds include the post-fit steps' averaging. "
        "A configuration marked bf16 trained in bf16 (the default on a CPU that multiplies bf16 natively; the "
        "others in fp32), so its seeds are kept apart from the fp32 runs of the same name.",
        "",
    ]
    groups = grouped(results)
    for data, configs in groups.items():
        rows += [
            f"### {DATA_NAMES.get(data, data)}",
            "",
            "| configuration | seeds | " + " | ".join(name for _, name in COLUMNS) + " | 90% sets | training s |",
            "|---|---:|" + "---:|" * (len(COLUMNS) + 2),
        ]
        first = ("reference recipe", "sentscore 0.1 defaults", "defaults", "defaults, bf16")
        for config in sorted(configs, key=lambda name: (first.index(name) if name in first else len(first), name)):
            runs = configs[config]
            cells = [spread([run["dev"][key] for run in runs]) for key, _ in COLUMNS]
            is_defaults = config in ("defaults", "defaults, bf16")
            label = f"**{config}** (= {resolved_defaults(runs)})" if is_defaults else config
            rows.append(
                f"| {label} | {len(runs)} | " + " | ".join(cells) + f" | {_sets(runs)} | "
                f"{statistics.fmean(run['train_seconds'] for run in runs):.0f} |"
            )
        rows.append("")
    return rows + base_size_rows(groups) + few_labels_rows(groups) + ensemble_rows(groups) + targets_rows(groups)


def resolved_defaults(runs: list[dict[str, Any]]) -> str:
    """What the defaults resolved to in ``runs``: fine-tuning with the stock head, or the few-label path (below 400
    labelled sentences, from sentscore 0.5)."""
    if all((run.get("resolved_config") or {}).get("num_train_epochs") == 0 for run in runs):
        return "the few-label path: mean, ordinal_log_loss, contrastive 40, head first, no epochs, refit"
    from .quality import SAME_AS_DEFAULTS

    return SAME_AS_DEFAULTS


#: The few-labels comparison: what each row is called, and the configuration (as :func:`label` names it).
FEW_LABELS_ROWS = (
    ("the labels alone (fine-tuning)", "fine-tuning, bf16"),
    ("teacher: all-mpnet-base-v2 on the labels alone (fine-tuning)", "mpnet-base, fine-tuning, bf16"),
    ("student of that teacher, + unlabelled", "defaults, teacher mpnet-base, unlabelled rest, bf16"),
    ("self-training, + unlabelled (removed)", "defaults, teacher self, unlabelled rest, bf16"),
    ("student, + unlabelled, kept by loss", "defaults, teacher mpnet-base, unlabelled rest, kept by loss, bf16"),
    ("student, + unlabelled, 6 epochs", "defaults, teacher mpnet-base, unlabelled rest, 6 epochs, bf16"),
    ("student, + unlabelled, hard labels", "defaults, teacher mpnet-base, unlabelled rest, hard labels, bf16"),
    ("student, + unlabelled, temperature 0.5", "defaults, teacher mpnet-base, unlabelled rest, temperature 0.5, bf16"),
    ("student, + unlabelled, temperature 2", "defaults, teacher mpnet-base, unlabelled rest, temperature 2, bf16"),
    ("student, + unlabelled, confident ≥ 0.5", "defaults, teacher mpnet-base, unlabelled rest, confident 0.5, bf16"),
    ("the labels alone (defaults: the few-label path)", "defaults, bf16"),
)
#: The rows whose means the issue's targets are checked on.
TARGETED = FEW_LABELS_ROWS[2][0], FEW_LABELS_ROWS[3][0]
#: The full-data case: the teacher trained on all of train.csv, the student on the same sentences, then on them
#: plus SemEval-4C's tweets as unlabelled text (out of domain).
FULL_DATA_ROWS = (
    ("the labels alone (defaults)", "defaults, bf16"),
    ("teacher: all-mpnet-base-v2", "mpnet-base, defaults, bf16"),
    ("student of that teacher, labelled sentences only", "defaults, teacher mpnet-base"),
    ("student, + 7,961 SemEval-4C tweets unlabelled", "defaults, teacher mpnet-base, unlabelled tweets"),
)


def few_labels_rows(groups: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """Few labels plus unlabelled text: the bundled model on the labels alone, the base-size teacher, and the
    bundled model taught on the labels plus the rest of train.csv by that teacher or by itself; the full-data
    case with out-of-domain unlabelled text; then the issue's targets."""
    found = {}
    rows = _teacher_rows(groups, ("sst5_64", "semeval_4c_320"), FEW_LABELS_ROWS, found)
    rows += _teacher_rows(groups, ("sst5",), FULL_DATA_ROWS, found)
    if not rows:
        return []
    return [
        "### Few labels, lots of text (`unlabelled_file`, `teacher`)",
        "",
        "A seeded draw of labelled sentences from train.csv (64 per level of SST-5; 320 tweets of SemEval-4C at "
        "random, stratified by level), the rest of train.csv as `unlabelled_file` (its sentences only). The teacher "
        "is all-mpnet-base-v2 fine-tuned on the same draw (same seed; the defaults before the few-label path); "
        "self-training (removed in 0.4) "
        "was the bundled model trained first on the draw, then on both as its own teacher. The rows below the default"
        " student vary one thing (hard labels: the teacher's most probable level; temperature T: its probabilities "
        "raised to 1/T and renormalised; confident: only the unlabelled sentences whose most probable level has at "
        "least that probability: 4,439 of 8,214 on seed 42), bench-only knobs of `bench/teacher_memo.py`. On all of "
        "SST-5 the teacher is its seed-42 model for every seed and the student trains in fp32. Training seconds are "
        "the row's own model's training alone; teacher seconds are the teacher's scoring of the training and "
        "unlabelled sentences (with self, the first model's training too), the longest over the seeds: a run that "
        "read an earlier run's teacher probabilities (memo) scored only what was missing, or nothing. One thread per "
        "run, one to four runs at a time on 2 cores. The base-size teacher's own training is its row.",
        "",
        "| data | configuration | seeds | " + " | ".join(n for _, n in COLUMNS) + " | training s | teacher s |",
        "|---|---|---:|" + "---:|" * (len(COLUMNS) + 2),
        *rows,
        "",
        *few_labels_targets(found),
    ]


SAMPLE_WORDS = {"sst5_64": "64 per level", "semeval_4c_320": "320 drawn", "sst5": "all of train.csv"}


def _teacher_rows(
    groups: dict[str, dict[str, list[dict[str, Any]]]],
    data_sets: tuple[str, ...],
    specs: tuple[tuple[str, str], ...],
    found: dict[tuple[str, str], list[dict[str, Any]]],
) -> list[str]:
    """One table row per (data set, row spec) that has runs; ``found`` collects their runs by (data, name)."""
    rows = []
    for data in data_sets:
        for name, config in specs:
            runs = groups.get(data, {}).get(config)
            if not runs:
                continue
            found[data, name] = runs
            cells = [spread([run["dev"][key] for run in runs]) for key, _ in COLUMNS]
            rows.append(
                f"| {DATA_NAMES[data].split(' after')[0].split(' (')[0]}, {SAMPLE_WORDS[data]} | {name} | "
                f"{len(runs)} | " + " | ".join(cells) + f" | {_student_seconds(runs)} | {_teacher_seconds(runs)} |"
            )
    return rows


def _teacher_work(run: dict[str, Any]) -> float:
    teacher = run.get("teacher") or {}
    return (teacher.get("first_model_seconds") or 0) + (teacher.get("scoring_seconds") or 0)


def _student_seconds(runs: list[dict[str, Any]]) -> str:
    return f"{statistics.fmean(run['train_seconds'] - _teacher_work(run) for run in runs):.0f}"


def _teacher_seconds(runs: list[dict[str, Any]]) -> str:
    """The teacher's longest work over the seeds: a run that reads an earlier run's probabilities from the memo
    scores only the sentences missing there, or none."""
    if not any(run.get("teacher") for run in runs):
        return ""
    longest = max(_teacher_work(run) for run in runs)
    return f"{longest:.0f}" if longest >= 1 else "memo"


def few_labels_targets(found: dict[tuple[str, str], list[dict[str, Any]]]) -> list[str]:
    """The few-labels issue's targets for the students (means over seeds)."""
    alone, teacher = FEW_LABELS_ROWS[0][0], FEW_LABELS_ROWS[1][0]
    rows = []
    for student in TARGETED:
        ours = found.get(("sst5_64", student))
        if ours:
            accuracy, qwk = mean_of(ours, "accuracy"), mean_of(ours, "qwk")
            rows.append(f"| SST-5, {student}: accuracy ≥ 0.45 | {accuracy:.4f} | {_verdict(accuracy >= 0.45)} |")
            rows.append(f"| SST-5, {student}: QWK ≥ 0.70 | {qwk:.4f} | {_verdict(qwk >= 0.70)} |")
            if ("sst5_64", teacher) in found:
                gap = mean_of(found["sst5_64", teacher], "accuracy") - accuracy
                rows.append(
                    f"| SST-5, {student}: within 2 points of the teacher's accuracy | {100 * gap:.1f} points "
                    f"below | {_verdict(gap <= 0.02)} |"
                )
        ours, base = found.get(("semeval_4c_320", student)), found.get(("semeval_4c_320", alone))
        if ours and base:
            wins = [
                key
                for key in ("accuracy", "macro_f1", "qwk", "mae")
                if (mean_of(ours, key) < mean_of(base, key)) == (key == "mae")
            ]
            rows.append(
                f"| SemEval-4C, {student}: better than the labels alone on accuracy, macro-F1, QWK and MAE | "
                f"better on {', '.join(wins) or 'none'} | {_verdict(len(wins) == 4)} |"
            )
    if not rows:
        return []
    return ["| target (means over seeds) | measured | verdict |", "|---|---|---|", *rows, ""]


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**"


#: The base-size model's runs and the distilled ones (as labelled by :func:`label`), shown beside the bundled
#: model's defaults on each data set that has any of them.
BASE_SIZE_CONFIGS = (
    "mpnet-base, 0.2 defaults (mean pooling), bf16",
    "0.2 defaults (mean pooling), teacher mpnet-base",
    "0.2 defaults (mean pooling), teacher mpnet-base, weight 0.9",
)
BUNDLED_CONFIGS = ("0.2 defaults (mean pooling)", "0.2 defaults (mean pooling), bf16", "defaults, bf16")


def base_size_rows(groups: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """The bundled model against the base-size one and against itself distilled from it: quality, training
    and scoring time, memory."""
    rows = []
    for data, configs in groups.items():
        if not any(name in configs for name in BASE_SIZE_CONFIGS):
            continue
        for config in (name for name in BUNDLED_CONFIGS + BASE_SIZE_CONFIGS if name in configs):
            runs = configs[config]
            cells = [spread([run["dev"][key] for run in runs]) for key in ("accuracy", "macro_f1", "qwk", "mae")]
            rows.append(
                f"| {DATA_NAMES[data].split(' (')[0]} | {config} | {len(runs)} | " + " | ".join(cells) + " | "
                f"{statistics.fmean(run['train_seconds'] for run in runs):.0f} | {_per_thousand(runs)} | "
                f"{_peak(runs)} |"
            )
    if not rows:
        return []
    return [
        "### The base-size model, and the bundled one distilled from it",
        "",
        "all-mpnet-base-v2 (MPNet, 12 layers, hidden 768, 110M parameters; `bench/base_model.py`) trained with the "
        "defaults, and the bundled MiniLM (22M) trained with it as `teacher` (its seed-42 model on the same data; "
        "the teacher's scoring of the training set counts in the training seconds). Scoring: seconds per 1000 dev "
        "sentences, one thread, torch backend; memory: the run's peak resident set (with a teacher, both models). "
        "Training seconds compare within one machine: the rows named defaults alone ran on a machine without "
        "bf16 under other loads, every other row on one with it.",
        "",
        "| data | configuration | seeds | accuracy | macro-F1 | QWK | MAE | training s | scoring s / 1000 | peak MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ]


def _per_thousand(runs: list[dict[str, Any]]) -> str:
    timed = [run for run in runs if "dev_scoring_seconds" in run]
    if not timed:
        return "n/a"
    return f"{statistics.fmean(1000 * run['dev_scoring_seconds'] / run['dev']['n'] for run in timed):.1f}"


def _peak(runs: list[dict[str, Any]]) -> str:
    peaks = [run["peak_rss_mb"] for run in runs if "peak_rss_mb" in run]
    return f"{statistics.fmean(peaks):.0f}" if peaks else "n/a"


def ensemble_rows(groups: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """Each configuration with two or more seeds' dev probabilities, scored as one model (their mean
    probabilities), beside the mean of its members: what an ensemble of N seeds would gain for N times the
    training. Not on the sampled sets: there each seed is another draw of the training sentences, so the mean of
    the seeds' probabilities is a model of several draws' labels, not an ensemble of one training set."""
    from .quality import is_sampled

    rows = []
    for data, configs in groups.items():
        if is_sampled(data):
            continue
        for config, runs in sorted(configs.items()):
            members = [run for run in runs if run.get("dev_probabilities")]
            if len(members) < 2:
                continue
            ensemble = _ensemble_metrics(data, members)
            single = [spread([run["dev"][key] for run in members]) for key, _ in COLUMNS]
            name = f"{DATA_NAMES.get(data, data).split(' (')[0]}: {config}"
            rows.append(f"| {name} | {len(members)} | " + " | ".join(single) + " |")
            together = " | ".join(f"{ensemble[key]:.4f}" for key, _ in COLUMNS)
            rows.append(f"| {name}, **ensemble** | {len(members)} | {together} |")
    if not rows:
        return []
    header = [
        "### Ensembles of the seeds",
        "",
        "The dev probabilities of a configuration's seeds averaged and scored as one model (argmax), beside its "
        "members (mean ± std): what `N` models trained with different seeds gain, for `N` times the training "
        "time. Computed from the runs' stored dev probabilities.",
        "",
        "| data: configuration | models | " + " | ".join(name for _, name in COLUMNS) + " |",
        "|---|---:|" + "---:|" * len(COLUMNS),
    ]
    return header + rows + [""]


def _ensemble_metrics(data: str, members: list[dict[str, Any]]) -> dict[str, float]:
    import numpy as np
    import pandas as pd

    from sentscore.data import ScoreScale
    from sentscore.metrics import compute_metrics, expected_calibration_error

    from .quality import DATASETS

    folder, _ = DATASETS[data]
    scale = ScoreScale(("1", "2", "3", "4", "5"))
    truth = [int(score) - 1 for score in pd.read_csv(folder / "dev.csv")["score"]]
    probs = np.mean([np.asarray(run["dev_probabilities"]) for run in members], axis=0)
    found = compute_metrics(truth, probs.argmax(axis=1).tolist(), scale)
    return {**found, "ece": expected_calibration_error(probs, truth)}


def _sets(runs: list[dict[str, Any]]) -> str:
    sets = [run["score_sets"] for run in runs if run.get("score_sets")]
    if not sets:
        return "n/a"
    coverage = statistics.fmean(s["coverage"] for s in sets)
    return f"{100 * coverage:.1f}% · {statistics.fmean(s['mean_size'] for s in sets):.2f}"


def targets_rows(groups: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """The quality issue's targets, for the configuration named "defaults"."""
    sst5 = groups.get("sst5", {})
    ours = defaults_of(sst5)
    if not ours:
        return []
    rows = ["### Targets (defaults, mean over seeds)", "", "| target | measured | verdict |", "|---|---|---|"]
    checks = [
        ("SST-5 dev accuracy ≥ 0.52", mean_of(ours, "accuracy"), lambda v: v >= 0.52),
        ("SST-5 dev QWK ≥ 0.76", mean_of(ours, "qwk"), lambda v: v >= 0.76),
        ("SST-5 dev MAE ≤ 0.60", mean_of(ours, "mae"), lambda v: v <= 0.60),
        ("SST-5 dev ECE ≤ 0.03 (calibrated)", mean_of(ours, "ece"), lambda v: v <= 0.03),
    ]
    for label, value, ok in checks:
        rows.append(f"| {label} | {value:.4f} | {'met' if ok(value) else '**not met**'} |")
    rows += _set_rows(ours) + _time_row(sst5) + _small_row(groups) + _comparison_rows(groups)
    return rows + [""]


def defaults_of(configs: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The runs of the defaults on one data set: in fp32 where there are any, else in bf16."""
    return configs.get("defaults") or configs.get("defaults, bf16") or []


def _set_rows(runs: list[dict[str, Any]]) -> list[str]:
    sets = [run["score_sets"] for run in runs if run.get("score_sets")]
    if not sets:
        return []
    coverage = statistics.fmean(s["coverage"] for s in sets)
    size = statistics.fmean(s["mean_size"] for s in sets)
    ok = 0.88 <= coverage <= 0.92 and size <= 2.2
    return [
        f"| 90% sets cover 88-92% of SST-5 dev, mean size ≤ 2.2 | {100 * coverage:.1f}%, {size:.2f} | "
        f"{'met' if ok else '**not met**'} |"
    ]


def _time_row(sst5: dict[str, list[dict[str, Any]]]) -> list[str]:
    if "sentscore 0.1 defaults" not in sst5:
        return []
    ratio = statistics.fmean(r["train_seconds"] for r in defaults_of(sst5)) / statistics.fmean(
        r["train_seconds"] for r in sst5["sentscore 0.1 defaults"]
    )
    return [
        f"| training time ≤ 1.5× the 0.1 defaults' (same runs) | {ratio:.2f}× | "
        f"{'met' if ratio <= 1.5 else '**not met**'} |"
    ]


def _small_row(groups: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    small = defaults_of(groups.get("sst5_64", {}))
    if not small:
        return []
    value = mean_of(small, "accuracy")
    return [
        f"| 64 sentences per level → SST-5 dev accuracy ≥ 0.45 | {value:.4f} | "
        f"{'met' if value >= 0.45 else '**not met**'} |"
    ]


def _comparison_rows(groups: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """Better than the reference recipe and than the 0.1 defaults on accuracy, macro-F1, QWK and MAE at once."""
    rows = []
    for data in ("sst5", "semeval_4c"):
        configs = groups.get(data, {})
        ours = defaults_of(configs)
        if not ours:
            continue
        for other in ("reference recipe", "sentscore 0.1 defaults"):
            if other not in configs:
                continue
            wins = [
                key
                for key in ("accuracy", "macro_f1", "qwk", "mae")
                if (mean_of(ours, key) < mean_of(configs[other], key)) == (key == "mae")
            ]
            rows.append(
                f"| {DATA_NAMES[data].split(' (')[0]}: better than the {other} on accuracy, macro-F1, QWK and MAE | "
                f"better on {', '.join(wins) or 'none'} | {'met' if len(wins) == 4 else '**not met**'} |"
            )
    return rows


def quick_start_section(result: dict[str, Any], precision: str) -> list[str]:
    """The README's quick start per variant: each seed's score for every sentence, and the training seconds."""
    sentences = list(result["sentences"])
    lines = [
        f"### The quick start over seeds, trained in {precision}",
        "",
        f"`python -m bench.quick_start` ({result['started']}, on {result['cpu']}): examples/config.json trained "
        "on examples/data with the CLI, as `scripts/demo.sh` does, then the demo's four sentences and two harder "
        "ones scored; a reader's score in the header. Seconds are the whole `sentscore train` process, variants "
        "interleaved seed by seed.",
        "",
        "| variant | seed | "
        + " | ".join(f"{text} ({score})" for text, score in result["sentences"].items())
        + " | train s |",
        "|---|---:|" + "---:|" * len(sentences) + "---:|",
    ]
    for name, runs in result["runs"].items():
        for run in runs:
            by_text = {row["sentence"]: row for row in run["predictions"]}
            cells = [f"{by_text[t]['score']} ({by_text[t]['confidence']:.2f})" for t in sentences]
            lines.append(f"| {name} | {run['seed']} | " + " | ".join(cells) + f" | {run['wall_seconds']:.0f} |")
    return lines + [""]
