"""Quality of the models sentscore trains: objectives x pooling x options against the reference recipe and the
previous defaults, several seeds each, on SST-5 dev and SemEval-2016 4C dev (and on SST-5 with 64 training
sentences per level).

    .venv/bin/python -m bench.quality all [--workers 2] [--seeds 42 43 44] [--data sst5 semeval_4c sst5_64]
    .venv/bin/python -m bench.quality run --data sst5 --config defaults --seed 42   # one run

Each run trains on the set's train.csv (sentscore validates on its own stratified 20% split, the recipe on its
random one), then scores the dev file with the public API (``sentscore.evaluate``: accuracy, macro-F1, QWK,
MAE, ECE, 95% bootstrap intervals, the decodings, the coverage and size of 90% score sets). Runs go to
bench/results/quality/, one file each, so that ``all`` resumes where it stopped and more seeds can be added;
``python -m bench.report`` renders the mean ± std over seeds. Every run uses one CPU thread, so that runs in
parallel workers take the same time as alone on a quiet machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import teacher_memo
from .base_model import NAME as BASE_MODEL
from .base_model import base_model_path
from .common import PYTHON, RESULTS, ROOT, SEMEVAL, SST5, cpu_name, offline_env, utc_now

QUALITY = RESULTS / "quality"
#: The trained models of the runs are kept here (not in git), for the benchmarks that need one (bench.explain).
MODELS = RESULTS / "quality_models"
SEEDS = (42, 43, 44)
#: Data sets: name -> (folder with train.csv and dev.csv, training sentences per level or None for all).
DATASETS = {
    "sst5": (SST5, None),
    "semeval_4c": (SEMEVAL, None),
    "sst5_64": (SST5, 64),
    "semeval_4c_320": (SEMEVAL, None),
    # few labels, as SetFit measures them: so many sentences per level, the same draws for SetFit (bench/setfit_run.py)
    "sst5_8": (SST5, 8),
    "semeval_4c_8": (SEMEVAL, 8),
    "semeval_4c_64": (SEMEVAL, 64),
}
#: Data sets drawn at random (stratified by level, so in the file's proportions): name -> training sentences.
#: The tweets' rarest level has 130 rows, so as few labels as sst5_64's are drawn as they come, not per level.
SAMPLED = {"semeval_4c_320": 320}
#: The value of ``unlabelled_file`` that stands for the rest of a sampled data set's train.csv, its sentences
#: only (the few-labels case: what was not drawn is text nobody scored).
REST = "the rest of train.csv"
#: The value of ``unlabelled_file`` that stands for the sentences of SemEval-4C's train.csv (tweets: text from
#: another domain than SST-5's film reviews).
TWEETS = "SemEval-4C train.csv's tweets"
#: The bundled model taught by the base-size one over the labels and the rest of train.csv (the few-labels case).
STUDENT_OF_REST = {"teacher": "mpnet-base, fine-tuning", "unlabelled_file": REST}

#: Configurations compared: name -> TrainConfig overrides (None: the reference recipe, bench/reference.py).
#: The configuration that "defaults" resolves to for the bundled model (the stock head: cls pooling, the ordered
#: objective), and the one it resolved to until sentscore 0.3 (mean pooling): the report shows their runs under
#: these names (a seed run under both names counts once).
SAME_AS_DEFAULTS = "cls, ordinal_log_loss"
SAME_AS_DEFAULTS_0_2 = "mean, ordinal_log_loss"
DEFAULTS_0_2 = "0.2 defaults (mean pooling)"

#: The few-label peer, SetFit 1.2 with the bundled body, run in its own environment (bench/setfit_run.py).
SETFIT = "SetFit 1.2"
SETFIT_PYTHON = ROOT / ".venv-setfit" / "bin" / "python"

CONFIGS: dict[str, dict[str, Any] | None] = {
    "reference recipe": None,
    SETFIT: None,
    "sentscore 0.1 defaults": {
        "pooling": "cls",
        "objective": "classification",
        "calibrate": False,
        "num_train_epochs": 3,
    },
    "defaults": {},
    "mean, classification": {"pooling": "mean", "objective": "classification"},
    "mean, ordinal (CORN)": {"pooling": "mean", "objective": "ordinal"},
    "mean, ordinal_log_loss": {"pooling": "mean", "objective": "ordinal_log_loss"},
    "mean, regression": {"pooling": "mean", "objective": "regression"},
    # the stock sequence-classification head (CLS pooler), which every stock loader reads, with the objective
    "cls, ordinal_log_loss": {"pooling": "cls", "objective": "ordinal_log_loss"},
    "mean, classification, 20 epochs": {"pooling": "mean", "num_train_epochs": 20},
    # long texts simulated: at 16 tokens most SST-5 sentences are cut (bench.long_texts scores its kept model)
    "mean, ordinal_log_loss, max_length 16": {"pooling": "mean", "objective": "ordinal_log_loss", "max_length": 16},
    # ... and trained on each text's head and tail, or on every window of it (train_long_texts)
    "mean, ordinal_log_loss, max_length 16, head_tail": {
        "pooling": "mean",
        "objective": "ordinal_log_loss",
        "max_length": 16,
        "train_long_texts": "head_tail",
    },
    "mean, ordinal_log_loss, max_length 16, windows": {
        "pooling": "mean",
        "objective": "ordinal_log_loss",
        "max_length": 16,
        "train_long_texts": "windows",
    },
    # the defaults again, with each epoch's validation and dev probabilities kept (RECORD_EVERY_EPOCH)
    "defaults, every epoch": {},
    # ... trained in fp32 where the defaults train in bf16: does bf16 decide which levels a seed predicts?
    "defaults, every epoch, fp32": {"bf16": False},
    # ... trained longer, or in the recipe's batches of 8 (four times its steps): does the tweets' accuracy and
    # MAE reach the recipe's with more training?
    "defaults, every epoch, 5 epochs": {"num_train_epochs": 5},
    "defaults, every epoch, batch 8": {"train_batch_size": 8},
    "defaults, every epoch, lr 5e-5": {"learning_rate": 5e-5},
    # the loss weighted by inverse level frequency (class_weights), for imbalanced levels such as the tweets'
    "defaults, class weights": {"class_weights": True},
    # SetFit's contrastive step before fine-tuning (20 iterations: 40 pairs per sentence), for small data
    "defaults, contrastive 40": {"contrastive_pairs": 40},
    "defaults, contrastive 20": {"contrastive_pairs": 20},
    "defaults, contrastive 10": {"contrastive_pairs": 10},
    # ... and then the head alone trained on the encoder the step left (SetFit's shape, with the ordinal head)
    "defaults, contrastive 40, head only": {"contrastive_pairs": 40, "freeze_layers": 6},
    "mean, ordinal_log_loss, contrastive 40": {"pooling": "mean", "contrastive_pairs": 40},
    "mean, ordinal_log_loss, contrastive 40, head only": {
        "pooling": "mean",
        "contrastive_pairs": 40,
        "freeze_layers": 6,
    },
    # the few-label path without refit: the model saved is the one validation measured, trained on 80% of the draw
    "few-label path, no refit": {
        "contrastive_pairs": 40,
        "head_first": True,
        "num_train_epochs": 0,
        "pooling": "mean",
        "refit": False,
    },
    # the head fitted first on the frozen encoder's vectors (head_first: LP-FT), then fine-tuned
    "defaults, head first": {"head_first": True},
    "mean, ordinal_log_loss, head first": {"pooling": "mean", "head_first": True},
    "mean, ordinal_log_loss, contrastive 40, head first, head only": {
        "pooling": "mean",
        "contrastive_pairs": 40,
        "head_first": True,
        "freeze_layers": 6,
    },
    # seeds scored as one: their probabilities averaged by one model (the results of options removed in 0.4, such
    # as weight soups, layer decay and the linear-probe head, stay in results/ and BENCHMARKS.md)
    "defaults, ensemble 2": {"ensemble": 2},
    # the defaults on a base-size encoder (bench/base_model.py): what 5x the parameters buys, and costs
    "mpnet-base, defaults": {"model_name": f"bench:{BASE_MODEL}"},
    # below 400 labelled sentences the defaults take the few-label path (sentscore 0.5); fine-tuning is what they
    # did at every size until then (the stock head, epochs for 300 steps), run again by setting a few-label knob
    "fine-tuning": {"contrastive_pairs": 0},
    "mpnet-base, fine-tuning": {"model_name": f"bench:{BASE_MODEL}", "contrastive_pairs": 0},
    "mpnet-base, defaults, contrastive 20": {"model_name": f"bench:{BASE_MODEL}", "contrastive_pairs": 20},
    # the bundled model distilled from the base-size one (trained first on the same data, with seed 42), in fp32
    # on every machine so that it compares with the fp32 runs of the defaults
    "defaults, teacher mpnet-base": {"teacher": "mpnet-base, defaults", "bf16": False},
    "defaults, teacher mpnet-base, weight 0.9": {
        "teacher": "mpnet-base, defaults",
        "teacher_weight": 0.9,
        "bf16": False,
    },
    # few labels plus unlabelled text: the base-size model trained on the labels (the same draw) scores the rest of
    # train.csv, and the bundled model learns from both (self-training, the bundled model as its own teacher, was
    # measured as "defaults, teacher self, unlabelled rest" and removed in 0.4: its results stay in results/)
    "defaults, teacher mpnet-base, unlabelled rest": STUDENT_OF_REST,
    # the epoch kept by validation loss: on a few dozen validation sentences accuracy ties and keeps the first
    "defaults, teacher mpnet-base, unlabelled rest, kept by loss": {**STUDENT_OF_REST, "metric_for_best_model": "loss"},
    # the student trained longer over the larger set (by default 3 epochs: it has thousands of sentences)
    "defaults, teacher mpnet-base, unlabelled rest, 6 epochs": {**STUDENT_OF_REST, "num_train_epochs": 6},
    # how the teacher's distributions are weighed (bench/teacher_memo.py): its most probable level alone (hard
    # pseudo-labels), sharpened, softened, or only the unlabelled sentences it is confident about
    "defaults, teacher mpnet-base, unlabelled rest, hard labels": {**STUDENT_OF_REST, teacher_memo.TEMPERATURE: 0},
    "defaults, teacher mpnet-base, unlabelled rest, temperature 0.5": {
        **STUDENT_OF_REST,
        teacher_memo.TEMPERATURE: 0.5,
    },
    "defaults, teacher mpnet-base, unlabelled rest, temperature 2": {**STUDENT_OF_REST, teacher_memo.TEMPERATURE: 2},
    "defaults, teacher mpnet-base, unlabelled rest, confident 0.5": {**STUDENT_OF_REST, teacher_memo.CONFIDENT: 0.5},
    # all of SST-5's labels, and tweets as unlabelled text from another domain (fp32, as the teacher run above)
    "defaults, teacher mpnet-base, unlabelled tweets": {
        "teacher": "mpnet-base, defaults",
        "unlabelled_file": TWEETS,
        "bf16": False,
    },
}
#: The configurations that learn from unlabelled text.
FEW_LABELS = ["defaults, teacher mpnet-base, unlabelled rest"]
#: The seed of the run whose model a configuration's ``teacher`` names on a whole data set (on a sampled one, the
#: run's own seed: the teacher was trained on the same draw).
TEACHER_SEED = 42
#: The configurations run by default on each data set (every one on the full sets; a few on small data).
#: Configurations whose runs keep each epoch's probabilities for the validation split and dev.
RECORD_EVERY_EPOCH = tuple(name for name in CONFIGS if name.startswith("defaults, every epoch"))

DEFAULT_PLAN = {
    "sst5": list(CONFIGS),
    "semeval_4c": list(CONFIGS),
    "sst5_64": [
        "reference recipe",
        SETFIT,
        "sentscore 0.1 defaults",
        "defaults",
        "fine-tuning",
        "mpnet-base, defaults",
        "mpnet-base, fine-tuning",
        *FEW_LABELS,
    ],
    "semeval_4c_320": ["defaults", "fine-tuning", "mpnet-base, defaults", "mpnet-base, fine-tuning", *FEW_LABELS],
    # against SetFit (issue 43: 10 draws at 8 per level, `all --seeds 42 ... 51`, 3 at 64)
    "sst5_8": [SETFIT, "defaults", "fine-tuning", "few-label path, no refit"],
    "semeval_4c_8": [SETFIT, "defaults", "fine-tuning", "few-label path, no refit"],
    "semeval_4c_64": [SETFIT, "defaults", "fine-tuning"],
}


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


def result_file(data: str, config: str, seed: int) -> Path:
    return QUALITY / f"{data}__{slug(config)}__s{seed}.json"


def is_sampled(data: str) -> bool:
    """Whether ``data``'s training sentences are a seeded draw from train.csv (each seed another draw)."""
    return DATASETS[data][1] is not None or data in SAMPLED


def training_file(data: str, seed: int, workdir: Path) -> str:
    """The training file of ``data``: the whole train.csv, or a seeded sample of so many sentences per level (or
    so many in all, stratified by level)."""
    if not is_sampled(data):
        return str(DATASETS[data][0] / "train.csv")
    sample, _ = drawn(data, seed)
    path = workdir / "train.csv"
    sample.to_csv(path, index=False)
    return str(path)


def drawn(data: str, seed: int) -> tuple[Any, Any]:
    """A sampled data set's seeded draw from train.csv, and the rows it left."""
    import pandas as pd

    folder, per_level = DATASETS[data]
    frame = pd.read_csv(folder / "train.csv")
    if per_level is not None:
        sample = frame.groupby("score", group_keys=False).sample(n=per_level, random_state=seed)
    else:
        share = SAMPLED[data] / len(frame)
        sample = frame.groupby("score", group_keys=False).sample(frac=share, random_state=seed)
    return sample.sample(frac=1.0, random_state=seed), frame.drop(sample.index)


def unlabelled_texts(data: str, seed: int, which: str) -> list[str]:
    """The sentences that ``which`` (:data:`REST` or :data:`TWEETS`) stands for, one line each."""
    import pandas as pd

    rows = drawn(data, seed)[1] if which == REST else pd.read_csv(SEMEVAL / "train.csv")
    return [" ".join(str(text).split()) for text in rows["sentence"]]


def unlabelled_file(texts: list[str], workdir: Path) -> str:
    """``texts`` without scores, one a line."""
    path = workdir / "unlabelled.txt"
    path.write_text("".join(f"{text}\n" for text in texts), encoding="utf-8")
    return str(path)


def confident(texts: list[str], teacher: Path, threshold: float) -> list[str]:
    """The ``texts`` whose most probable level ``teacher`` gives at least ``threshold`` probability."""
    probs = teacher_memo.teacher_probabilities(teacher, texts)
    return [text for text, top in zip(texts, probs.max(1), strict=True) if top >= threshold]


def run_sentscore(
    train_csv: str, dev_csv: str, overrides: dict[str, Any], seed: int, workdir: Path, every_epoch: bool = False
) -> dict:
    """Train, evaluate on dev and keep dev's probabilities; with ``every_epoch``, also each epoch's probabilities
    for the validation split and dev (bench.kept_epoch compares the rules that choose the epoch to keep)."""
    from sentscore import Scorer, TrainConfig, evaluate, train
    from sentscore.data import load_labelled

    from .epochs import EpochPredictions

    config = TrainConfig.from_dict(
        {"train_file": train_csv, "output_dir": str(workdir / "model"), "seed": seed, "num_threads": 1, **overrides}
    )
    recorder = EpochPredictions(config, dev_csv) if every_epoch else None
    result = train(config, show_progress=False, callbacks=[recorder.callback] if recorder else None)
    report = evaluate(workdir / "model", dev_csv, worst=0, backend="torch")
    scorer = Scorer.load(workdir / "model", backend="torch")
    dev_texts = load_labelled(dev_csv, scale=scorer.scale).texts
    started = time.perf_counter()
    dev_probabilities = scorer.predict_proba(dev_texts)
    scoring_seconds = time.perf_counter() - started
    validation = {k: v for k, v in result.metrics.items() if k not in ("confusion_matrix", "reliability")}
    return {
        "train_seconds": result.train_seconds,
        "resolved_config": result.config.to_dict(),
        "validation": validation,
        "calibration": result.post_fit.get("calibration"),
        "teacher": result.post_fit.get("teacher"),
        "unlabelled_samples": result.unlabelled_samples,
        "dev": _headline(report["metrics"]),
        "decodings": report["decodings"],
        "score_sets": report["score_sets"],
        # kept so that ensembles of the seeds can be scored afterwards (bench.quality_report)
        "dev_probabilities": dev_probabilities.round(4).tolist(),
        "dev_scoring_seconds": scoring_seconds,
        **({"every_epoch": recorder.record()} if recorder else {}),
    }


def run_reference_recipe(train_csv: str, dev_csv: str, seed: int, workdir: Path) -> dict:
    from .reference import run_reference

    run = run_reference(train_csv, dev_csv, workdir, seed=seed)
    return {"train_seconds": run["train_seconds"], **dev_figures(dev_csv, run["dev_probabilities"])}


def run_setfit(train_csv: str, dev_csv: str, seed: int, workdir: Path) -> dict:
    """SetFit 1.2 on the same draw, with the bundled body, one thread (``bash bench/setfit_env.sh`` first)."""
    from sentscore.model.base import bundled_model_path

    if not SETFIT_PYTHON.is_file():
        raise SystemExit("no SetFit environment: run bash bench/setfit_env.sh first")
    out = workdir / "setfit.json"
    command = [str(SETFIT_PYTHON), "-P", str(ROOT / "bench" / "setfit_run.py"), "--train", train_csv]
    command += ["--dev", dev_csv, "--body", str(bundled_model_path()), "--seed", str(seed), "--out", str(out)]
    subprocess.run(command, check=True, env={**offline_env(), "TQDM_DISABLE": "1"})
    run = json.loads(out.read_text())
    extra = {key: run[key] for key in ("dev_scoring_seconds", "setfit_version")}
    return {"train_seconds": run["train_seconds"], **extra, **dev_figures(dev_csv, run["dev_probabilities"])}


def dev_figures(dev_csv: str, probabilities: Any) -> dict:
    """The dev metrics of a peer's probabilities over levels 1..5, computed as sentscore computes its own."""
    import pandas as pd

    from sentscore.data import ScoreScale
    from sentscore.metrics import bootstrap_intervals, compute_metrics, expected_calibration_error

    probs = np.asarray(probabilities)
    labels = (pd.read_csv(dev_csv)["score"] - 1).to_numpy()
    scale = ScoreScale(("1", "2", "3", "4", "5"))
    metrics = compute_metrics(labels, probs.argmax(1), scale)
    metrics["ece"] = expected_calibration_error(probs, labels)
    metrics["intervals"] = bootstrap_intervals(labels, probs.argmax(1), scale)
    return {"dev": _headline(metrics), "dev_probabilities": probs.round(4).tolist()}


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    keys = ("n", "accuracy", "macro_f1", "qwk", "mae", "rmse", "spearman", "within_one", "ece", "intervals")
    return {k: metrics.get(k) for k in keys}


def running_marker(data: str, config: str, seed: int) -> Path:
    """A file that says a run is under way (so that a second scheduler does not start it again)."""
    return result_file(data, config, seed).with_suffix(".running")


def run_one(data: str, config: str, seed: int) -> Path:
    """Train and score one configuration on one data set with one seed; write and return its result file."""
    marker = running_marker(data, config, seed)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()  # the scheduler made it already when it started this run
    try:
        return _run_one(data, config, seed)
    finally:
        marker.unlink(missing_ok=True)


def _run_one(data: str, config: str, seed: int) -> Path:
    import torch

    torch.set_num_threads(1)  # this worker process is the benchmark's own
    folder, _ = DATASETS[data]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        train_csv, dev_csv = training_file(data, seed, workdir), str(folder / "dev.csv")
        overrides = CONFIGS[config]
        if config == SETFIT:
            figures = run_setfit(train_csv, dev_csv, seed, workdir)
        elif overrides is None:
            figures = run_reference_recipe(train_csv, dev_csv, seed, workdir)
        else:
            every_epoch = config in RECORD_EVERY_EPOCH
            settings = with_paths(data, overrides, seed)
            knobs = {knob: settings.pop(knob) for knob in teacher_memo.KNOBS if knob in settings}
            if settings.get("unlabelled_file") in (REST, TWEETS):
                texts = unlabelled_texts(data, seed, settings["unlabelled_file"])
                if teacher_memo.CONFIDENT in knobs:
                    texts = confident(texts, Path(settings["teacher"]), knobs[teacher_memo.CONFIDENT])
                settings["unlabelled_file"] = unlabelled_file(texts, workdir)
            with memoised_teacher(settings, knobs):
                figures = run_sentscore(train_csv, dev_csv, settings, seed, workdir, every_epoch)
            kept = MODELS / result_file(data, config, seed).stem
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(workdir / "model", kept)
    record = {
        "data": data,
        "config": config,
        "overrides": overrides,
        "seed": seed,
        "started": utc_now(),
        "wall_seconds": time.perf_counter() - started,
        "cpu": cpu_name(),
        "threads": 1,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **figures,
    }
    path = result_file(data, config, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if "every_epoch" in record:  # megabytes of probabilities: compact and compressed, beside the result
        write_epochs(path, record.pop("every_epoch"))
    path.write_text(json.dumps(record, indent=2, default=_plain))
    return path


def epochs_file(result: Path) -> Path:
    return result.with_suffix(".epochs.json.gz")


def write_epochs(result: Path, epochs: dict[str, Any]) -> None:
    import gzip

    epochs_file(result).write_bytes(gzip.compress(json.dumps(epochs, separators=(",", ":")).encode(), mtime=0))


def read_epochs(result: Path) -> dict[str, Any] | None:
    """The every-epoch record kept beside a result file (``RECORD_EVERY_EPOCH`` runs), or None."""
    import gzip

    path = epochs_file(result)
    return json.loads(gzip.decompress(path.read_bytes())) if path.is_file() else None


def with_paths(data: str, overrides: dict[str, Any], seed: int) -> dict[str, Any]:
    """``overrides`` with the models they name by benchmark name (the base-size model, a teacher run) as the
    paths of those models on this machine."""
    settings = dict(overrides)
    if settings.get("model_name") == f"bench:{BASE_MODEL}":
        settings["model_name"] = str(base_model_path())
    if "teacher" in settings:
        settings["teacher"] = str(teacher_model(data, settings["teacher"], seed))
    return settings


def teacher_folder(data: str, config: str, seed: int) -> Path:
    """Where the kept model of the teacher run of ``config`` on ``data`` for a run with ``seed`` is: the run
    with :data:`TEACHER_SEED` on a whole data set, with the same seed (the same draw) on a sampled one."""
    return MODELS / result_file(data, config, seed if is_sampled(data) else TEACHER_SEED).stem


def teacher_model(data: str, config: str, seed: int) -> Path:
    """The kept model of the teacher run (:func:`teacher_folder`), which must have run first."""
    folder = teacher_folder(data, config, seed)
    if not (folder / "sentscore.json").is_file():
        raise SystemExit(f"no teacher at {folder}: run --data {data} --config '{config}' first")
    return folder


def waits_for_teacher(data: str, config: str, seed: int) -> bool:
    """Whether the run's teacher (a run of another configuration) has not written its model yet."""
    teacher = (CONFIGS[config] or {}).get("teacher")
    return teacher is not None and not (teacher_folder(data, teacher, seed) / "sentscore.json").is_file()


def memoised_teacher(settings: dict[str, Any], knobs: dict[str, Any]) -> Any:
    """The teacher of a distillation run answering from its memo (bench/teacher_memo.py), so that the teacher's
    scoring time of such a run is that of the sentences no earlier run scored: the teacher step's time is read
    off the run that filled the memo, or off runs before the memo (0.4)."""
    if "teacher" not in settings:
        return contextlib.nullcontext()
    return teacher_memo.teaching(Path(settings["teacher"]), knobs.get(teacher_memo.TEMPERATURE))


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else float(value)


def run_all(plan: dict[str, list[str]], seeds: list[int], workers: int) -> None:
    """Every missing run of ``plan`` x ``seeds``, in ``workers`` processes at a time (seed by seed, so that a
    stopped benchmark has whole seeds)."""
    todo = [
        (data, config, seed)
        for seed in seeds
        for data, configs in plan.items()
        for config in configs
        if not result_file(data, config, seed).is_file() and not running_marker(data, config, seed).exists()
    ]
    print(f"[quality] {len(todo)} runs to do", flush=True)
    running: list[tuple[subprocess.Popen, tuple]] = []
    while todo or running:
        ready = [job for job in todo if not waits_for_teacher(*job)]
        if todo and not ready and not running:
            raise SystemExit(f"[quality] no teacher for {todo}: add its configuration to the plan")
        while ready and len(running) < workers:
            job = ready.pop(0)
            todo.remove(job)
            if result_file(*job).is_file() or running_marker(*job).exists():
                continue  # done or started by another scheduler meanwhile
            running_marker(*job).touch()
            command = [
                PYTHON,
                "-m",
                "bench.quality",
                "run",
                "--data",
                job[0],
                "--config",
                job[1],
                "--seed",
                str(job[2]),
            ]
            running.append((subprocess.Popen(command, cwd=ROOT, env=offline_env()), job))
            print(f"[quality] start {job}", flush=True)
        time.sleep(5)
        for process, job in list(running):
            if process.poll() is not None:
                running.remove((process, job))
                print(f"[quality] {'done' if process.returncode == 0 else 'FAILED'} {job}", flush=True)


def load_results() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(QUALITY.glob("*.json"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("run", help="One run.")
    one.add_argument("--data", choices=list(DATASETS), required=True)
    one.add_argument("--config", choices=list(CONFIGS), required=True)
    one.add_argument("--seed", type=int, default=SEEDS[0])
    every = commands.add_parser("all", help="Every missing run of the plan.")
    every.add_argument("--workers", type=int, default=2)
    every.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    every.add_argument("--data", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    every.add_argument("--configs", nargs="+", choices=list(CONFIGS), help="Default: the plan for each data set.")
    args = parser.parse_args()
    if args.command == "run":
        print(f"[quality] wrote {run_one(args.data, args.config, args.seed)}", flush=True)
        return
    plan = {data: args.configs or DEFAULT_PLAN[data] for data in args.data}
    run_all(plan, args.seeds, args.workers)


if __name__ == "__main__":
    main()
