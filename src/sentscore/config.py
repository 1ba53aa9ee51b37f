"""Training configuration: every key of the recipe's ``config.json`` plus sentscore's own, typed,
documented and validated in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model.base import DEFAULT_MODEL
from .settings import Settings, read_mapping

#: Metrics that may pick the best epoch, and whether higher is better.
METRIC_DIRECTIONS = dict.fromkeys(("accuracy", "macro_f1", "qwk", "spearman", "within_one"), True)
METRIC_DIRECTIONS |= dict.fromkeys(("mae", "rmse", "loss"), False)

#: Keys naming files or folders: relative to the config file's own folder.
PATH_KEYS = ("train_file", "validation_file", "test_file", "unlabelled_file", "output_dir", "teacher", "logging_dir")
DEVICES = ("auto", "cpu", "cuda", "mps")
POOLINGS = ("cls", "mean")
#: How training reads a text longer than max_length tokens (scoring reads every one in windows).
TRAIN_LONG_TEXTS = ("truncate", "head_tail", "windows")
#: What training exports to ONNX at its end, for scoring without torch.
ONNX_EXPORTS = ("fp32", "int8", "none")
#: Where a run can be logged: the Trainer's ``report_to`` names (its integrations), "all" (each one installed)
#: and "none".
TRACKERS = ("none", "all", "tensorboard", "mlflow", "wandb", "trackio", "comet_ml", "neptune", "clearml", "dvclive")
TRACKERS += ("azure_ml", "codecarbon", "dagshub", "flyte", "swanlab", "kubeflow")

#: Options that did not earn their place (docs/decisions.md has the measurements): a config naming one is refused
#: with the reason, not ignored.
REMOVED_KEYS = {
    "layer_lr_decay": ("0.4", "decaying the learning rate by layer lost a little on both measured data sets"),
    "head_learning_rate": ("0.4", "no measured case where a separate learning rate for the head won"),
    "head_init": ("0.4", "the linear-probe head lost with full data and gained nothing at the small-data epochs"),
    "weight_averaging": ("0.4", "averaging epochs' weights kept the best epoch alone or lost; the best epoch is kept"),
    "attention_dropout": ("0.4", "no value other than the checkpoint's was measured to help; 0 lost accuracy"),
    "ensemble_average": ("0.4", "the weight soup lost on one data set; an ensemble always averages probabilities"),
}


@dataclass
class TrainConfig(Settings):
    """Everything ``sentscore train`` needs. Field names are the config file's keys and the CLI's flags
    (``learning_rate`` is ``--learning-rate``). The first eight are the recipe's keys, unchanged."""

    model_name: str = field(
        default=DEFAULT_MODEL,
        metadata={
            "help": "Hub id or local directory of a BERT-family checkpoint. The default is bundled (works offline)."
        },
    )
    max_length: int = field(
        default=128,
        metadata={
            "help": "Tokens the model reads at a time (its window). Training reads a longer text as "
            "train_long_texts says; scoring reads it whole in overlapping windows of this length (predict "
            "--long-texts truncate: its first window only). Saved with the model."
        },
    )
    # 16, not the recipe's 8 or a larger 32: the measurements behind it are in docs/decisions.md.
    train_batch_size: int = field(default=16, metadata={"help": "Sentences per training step."})
    eval_batch_size: int = field(default=32, metadata={"help": "Sentences per evaluation step."})
    # None: chosen by the training set's size once it is read (sentscore.training.examples.with_size_defaults).
    num_train_epochs: float | None = field(
        default=None,
        metadata={
            "help": "Passes over the training data; 0: no fine-tuning (head_first fits the head). Default: 3, or "
            "more for a small set, for at least 300 optimizer steps (at most 30); 0 on the few-label path."
        },
    )
    # None: chosen by the encoder's width once it is loaded (sentscore.surgery.default_learning_rate).
    learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "Peak learning rate (linear warm-up and decay). Default: 1e-4 for encoders narrower than "
            "BERT-base (hidden size below 768, such as the default MiniLM), 5e-5 for BERT-base and wider."
        },
    )
    output_dir: str = field(default="./models", metadata={"help": "Where the trained model is written."})
    num_labels: int | None = field(
        default=None,
        metadata={
            "help": "Number of score levels. When given, it is checked against the data; integer scores "
            "must then lie in 1..N (or start at the lowest score when it is below 1)."
        },
    )
    train_file: str = field(default="data/dataset.csv", metadata={"help": "Labelled data: CSV, TSV or JSONL."})
    validation_file: str | None = field(
        default=None, metadata={"help": "Optional held-out file; otherwise a stratified split of train_file."}
    )
    validation_fraction: float = field(
        default=0.2, metadata={"help": "Share of train_file held out for evaluation when no validation_file."}
    )
    test_file: str | None = field(  # never used to train or to choose the epoch
        default=None, metadata={"help": "Optional labelled file scored once by the kept model, reported apart."}
    )
    text_column: str = field(default="sentence", metadata={"help": "Column holding the text."})
    score_column: str = field(default="score", metadata={"help": "Column holding the score or label."})
    labels: list[str] | None = field(
        default=None,
        metadata={
            "help": 'Explicit ordered label list, lowest first: in a config file ["bad", "ok", "good"], as a flag '
            "bad,ok,good (or the same JSON list); rows with other labels are rejected. Default: discovered from "
            "the data."
        },
    )
    seed: int = field(default=42, metadata={"help": "Seed for the split, initialisation and data order."})
    metric_for_best_model: str = field(
        default="accuracy",
        metadata={"help": "Metric that picks the epoch to keep: " + ", ".join(METRIC_DIRECTIONS) + "."},
    )
    early_stopping_patience: int | None = field(
        default=None, metadata={"help": "Stop after this many epochs without improvement (default: off)."}
    )
    objective: str | None = field(
        default=None,
        metadata={
            "help": "How the head is trained and read: classification (cross-entropy over the levels), ordinal "
            "(CORN: rank-consistent, for ordered levels), regression (one output; squared error) or "
            "ordinal_log_loss (cross-entropy plus a penalty growing with the distance to the true level). Every "
            "objective gives a probability for every level. Default: ordinal_log_loss for ordered levels "
            "(numbers, or text labels in a given order), classification for text labels in no given order."
        },
    )
    pooling: str | None = field(
        default=None,
        metadata={
            "help": "How the head reads the sentence: cls (the first token) or mean (the mean of the token "
            "vectors). Default: cls (or the checkpoint's own, for a folder sentscore trained with mean). "
            "Classification or ordinal_log_loss from cls keeps the stock head that transformers.pipeline, the "
            "AutoModel classes and the recipe's predict.py load; any other choice saves sentscore's own head, "
            "which they refuse."
        },
    )
    train_long_texts: str = field(
        default="truncate",
        metadata={
            "help": "How training reads a text longer than max_length: truncate (its first tokens), head_tail "
            "(its first quarter and last three quarters of max_length) or windows (every overlapping window is a "
            "training example with the text's score). Validation reads texts the same way, but one example per text: "
            "with windows, its first one."
        },
    )
    # None (this and the next two): chosen by the training set's size, the few-label path (docs/config.md).
    contrastive_pairs: int | None = field(
        default=None,
        metadata={
            "help": "Before fine-tuning, train the encoder on this many pairs per training sentence (half with a "
            "sentence of its own level, half with one of another level) to bring sentences of one level "
            "together (SetFit's step). 0: no such step. Default: 40 on the few-label path, else 0."
        },
    )
    contrastive_learning_rate: float = field(default=2e-5, metadata={"help": "The contrastive step's peak LR."})
    head_first: bool | None = field(default=None, metadata={"help": "Fit the head on frozen vectors first (LP-FT)."})
    refit: bool | None = field(
        default=None,
        metadata={
            "help": "Once validation has measured the model, train it again the same way on the validation sentences "
            "too and save that one. Default: on the few-label path when validation is a split of train_file "
            "(false keeps the path and the measured model)."
        },
    )
    ensemble: int = field(
        default=1,
        metadata={
            "help": "Train this many models, with the seeds seed, seed+1, ..., on the same split, and score them "
            "as one that averages their probabilities, for N times the training and scoring time."
        },
    )
    teacher: str | None = field(
        default=None,
        metadata={
            "help": "A sentscore model folder trained on the same levels (typically a larger, slower model) whose "
            "probabilities for the training sentences the model learns to match beside the true scores "
            "(knowledge distillation): a small model that grades more like the large one. None: no teacher."
        },
    )
    teacher_weight: float = field(
        default=0.5,
        metadata={
            "help": "With a teacher, the share of a labelled sentence's loss that matches the teacher's "
            "distribution (0-1); the rest is the objective's loss on the true score. An unlabelled sentence's "
            "loss is the match alone."
        },
    )
    unlabelled_file: str | None = field(
        default=None,
        metadata={
            "help": "Sentences without scores (CSV, TSV or JSONL with text_column, or plain text, one a line) that "
            "the teacher scores once and the model then learns from beside the labelled ones; blank and repeated "
            "rows and sentences of the labelled data are left out. Validation stays on labelled sentences. "
            "Needs a teacher. None: the labelled sentences only."
        },
    )
    calibrate: bool = field(
        default=True,
        metadata={"help": "Fit a temperature on the validation set after training (false: probabilities as trained)."},
    )
    class_weights: bool = field(
        default=False, metadata={"help": "Weight the loss by inverse class frequency (imbalanced data)."}
    )
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    warmup_ratio: float = field(default=0.06, metadata={"help": "Share of steps spent warming up the LR."})
    group_by_length: bool = field(
        default=True,
        metadata={"help": "Batch sentences of similar length together (much less padding, same results)."},
    )
    freeze_embeddings: bool = field(
        default=True,
        metadata={
            "help": "Keep the pre-trained word-embedding matrix fixed: less memory and faster steps for the same "
            "accuracy; false trains it too."
        },
    )
    # A third of the layers by default (docs/decisions.md).
    freeze_layers: int | None = field(
        default=None,
        metadata={
            "help": "Keep this many of the encoder's lowest layers (and the embeddings' position and layer-norm "
            "weights) fixed: their backward pass is skipped and they run without dropout, so steps are faster. "
            "Default: a third of the layers (2 of MiniLM's 6, 4 of BERT-base's 12); 0 trains every layer."
        },
    )
    dropout: float | None = field(
        default=None,
        metadata={"help": "Dropout probability in the encoder's hidden layers; default: the checkpoint's own."},
    )
    device: str = field(default="auto", metadata={"help": "auto (CUDA, then Apple MPS, then CPU), cuda, mps or cpu."})
    fp16: bool = field(default=False, metadata={"help": "Mixed precision fp16 (CUDA only)."})
    # None: on when training on a CPU that multiplies bf16 natively (sentscore.runtime.bf16_by_default).
    bf16: bool | None = field(
        default=None,
        metadata={
            "help": "Mixed precision bf16: matrix products in bf16, weights and optimizer in fp32. Default: on "
            "when training on a CPU with native bf16 (AVX512-BF16 or AMX: AMD Zen 4 and later, Intel Xeon "
            "Cooper Lake and Sapphire Rapids or later), where steps run faster at the same accuracy; off elsewhere "
            "(true for a recent GPU)."
        },
    )
    num_threads: int | None = field(default=None, metadata={"help": "CPU threads for torch (default: every core)."})
    torch_compile: bool = field(default=False, metadata={"help": "Compile the model with torch.compile."})
    resume: bool = field(
        default=False,
        metadata={"help": "Continue an interrupted training from the newest checkpoint in output_dir (same model)."},
    )
    checkpoint_minutes: float = field(
        default=10.0,
        metadata={"help": "Minutes between resumable checkpoints (besides one every epoch); 0: every epoch only."},
    )
    allow_pickle: bool = field(
        default=False,
        metadata={
            "help": "Let a base model whose weights are only a pickle checkpoint (pytorch_model.bin) load; a pickle "
            "can run code when loaded, so only for checkpoints you trust. Without it only safetensors load."
        },
    )
    overwrite: bool = field(default=False, metadata={"help": "Allow replacing a trained model already in output_dir."})
    onnx_export: str = field(
        default="fp32",
        metadata={
            "help": "After training, export the model to ONNX so that predict and serve start without torch: fp32 "
            "(model.onnx, PyTorch's scores), int8 (model.int8.onnx too: smaller and faster, scores may move "
            "slightly) or none."
        },
    )
    report_to: list[str] = field(
        default_factory=lambda: ["none"],
        metadata={
            "help": "Where to log the run, by the Trainer's names: none, tensorboard, mlflow, wandb, ..., several "
            "(tensorboard,mlflow) or all (each one installed). sentscore adds the resolved config, the final metrics "
            "with their intervals, calibration and training time, and to MLflow the card and plots. TensorBoard "
            "and MLflow come with pip install 'sentscore[tracking]'."
        },
    )
    run_name: str | None = field(default=None, metadata={"help": "The run's name in the trackers."})
    logging_dir: str | None = field(
        default=None,
        metadata={
            "help": "Where TensorBoard runs are written. Default: runs/ in output_dir (where the Hub shows them)."
        },
    )

    @classmethod
    def removed_keys(cls) -> dict[str, tuple[str, str]]:
        return REMOVED_KEYS

    # ---- loading -------------------------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
        """Read a JSON or YAML config, apply ``overrides`` (e.g. from CLI flags) and validate.

        Relative paths in the file are taken relative to the file's own folder, so a config works from
        any working directory.
        """
        path = Path(path)
        raw = cls.read_file(path)
        base = path.parent
        if "train_file" not in raw:
            raw["train_file"] = str(base / cls.train_file)
        if "output_dir" not in raw:
            raw["output_dir"] = str(base / cls.output_dir)
        return cls.from_dict({**raw, **(overrides or {})}, source=str(path), flags=set(overrides or {}))

    @classmethod
    def read_file(cls, path: str | Path) -> dict[str, Any]:
        """The keys a JSON or YAML config file sets, as written (not checked), with its relative paths taken
        relative to the file's folder."""
        path = Path(path)
        raw = read_mapping(path)
        for key in PATH_KEYS:
            if isinstance(raw.get(key), str) and not Path(raw[key]).is_absolute():
                raw[key] = str(path.parent / raw[key])
        return raw

    def problems(self) -> list[str]:
        """Every value out of its range, as messages naming the key."""
        problems = []
        positive_ints = ("max_length", "train_batch_size", "eval_batch_size")
        if self.freeze_layers is not None and self.freeze_layers < 0:
            problems.append("'freeze_layers' must not be negative (0 trains every layer)")
        problems += [f"'{k}' must be a positive integer" for k in positive_ints if getattr(self, k) < 1]
        if self.num_train_epochs is not None and self.num_train_epochs < 0:
            problems.append("'num_train_epochs' must not be negative")
        if self.num_train_epochs == 0 and self.head_first is False:
            problems.append("'num_train_epochs' 0 leaves the head untrained: set 'head_first' true")
        if self.refit and (self.num_train_epochs != 0 or self.ensemble > 1 or self.teacher):
            problems.append("'refit' trains without validation: only with 'num_train_epochs' 0, one model, no teacher")
        if self.learning_rate is not None and not 0 < self.learning_rate < 1:
            problems.append("'learning_rate' must be between 0 and 1 (typical: 1e-5 to 2e-4)")
        if self.weight_decay < 0:
            problems.append("'weight_decay' must not be negative (typical: 0 to 0.1)")
        # The Trainer reads a warmup of 1 or more as a number of steps, not a share, so refuse it here.
        if not 0 <= self.warmup_ratio < 1:
            problems.append("'warmup_ratio' must be at least 0 and below 1 (a share of the training steps)")
        if self.num_labels is not None and self.num_labels < 2:
            problems.append("'num_labels' must be at least 2")
        if self.validation_file is None and not 0 < self.validation_fraction < 1:
            problems.append("'validation_fraction' must be between 0 and 1")
        if self.contrastive_pairs is not None and self.contrastive_pairs < 0:
            problems.append("'contrastive_pairs' must not be negative (0: no contrastive step; SetFit uses 40)")
        if not 0 < self.contrastive_learning_rate < 1:
            problems.append("'contrastive_learning_rate' must be between 0 and 1 (typical: 2e-5)")
        if self.ensemble < 1:
            problems.append("'ensemble' must be at least 1 (1: one model; 3: three seeds averaged into one)")
        if self.ensemble > 1 and self.resume:
            problems.append("'resume' does not continue an ensemble yet: train it again without resume")
        if not 0 <= self.teacher_weight <= 1:
            problems.append("'teacher_weight' must be between 0 and 1 (the share of the loss that matches the teacher)")
        if self.unlabelled_file and not self.teacher:
            problems.append("'unlabelled_file' needs a 'teacher' to score its sentences (a model folder)")
        if self.teacher == "self":  # measured in 0.4 and not kept (docs/decisions.md)
            problems.append(
                "'teacher' self (self-training) is not offered: it gained nothing over the labelled sentences alone "
                "(docs/decisions.md); give the folder of a larger model trained on them"
            )
        if self.dropout is not None and not 0 <= self.dropout < 1:
            problems.append("'dropout' must be at least 0 and below 1")
        if self.checkpoint_minutes < 0:
            problems.append("'checkpoint_minutes' must not be negative (0: a checkpoint every epoch only)")
        if self.num_threads is not None and self.num_threads < 1:
            problems.append("'num_threads' must be at least 1")
        if self.fp16 and self.bf16:
            problems.append("choose at most one of 'fp16' and 'bf16'")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            problems.append("'early_stopping_patience' must be at least 1")
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            problems.append("'labels' must not repeat a label")
        if self.labels is not None and self.num_labels is not None and len(self.labels) != self.num_labels:
            problems.append(f"'labels' has {len(self.labels)} entries but 'num_labels' is {self.num_labels}")
        return [*self.choice_problems(), *problems, *self.tracking_problems()]

    def tracking_problems(self) -> list[str]:
        unknown = [name for name in self.report_to if name not in TRACKERS]
        if unknown:
            return [
                f"'report_to' names no tracker the Trainer knows: {', '.join(unknown)} (one of {', '.join(TRACKERS)})"
            ]
        if len(self.report_to) > 1 and {"none", "all"} & set(self.report_to):
            return ["'report_to' takes none or all alone, or a list of trackers"]
        return []

    @classmethod
    def choices(cls) -> dict[str, tuple[str, ...]]:
        from .model.objectives import OBJECTIVES

        return {
            "metric_for_best_model": tuple(METRIC_DIRECTIONS),
            "objective": tuple(OBJECTIVES),
            "train_long_texts": TRAIN_LONG_TEXTS,
            "pooling": POOLINGS,
            "device": DEVICES,
            "onnx_export": ONNX_EXPORTS,
        }

    @property
    def greater_is_better(self) -> bool:
        return METRIC_DIRECTIONS[self.metric_for_best_model]
