"""The model card of a trained model (the model folder writes it; its plots are in ``figures``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..metrics import METRIC_NAMES

if TYPE_CHECKING:
    pass


class CardFacts(Protocol):
    """What the card says of a trained model: the fields of the folder's ``ModelInfo`` that it reads, as plain
    values (the folder hands its record in; the card knows nothing of the folder)."""

    labels: tuple[str, ...]
    max_length: int
    objective: str
    pooling: str
    base_model: str | None
    text_column: str
    score_column: str
    train_file: str | None
    validation_file: str | None
    train_samples: int | None
    unlabelled_samples: int | None
    validation_samples: int | None
    train_seconds: float | None
    trained_at: str | None
    config: dict[str, Any]
    calibration: dict[str, Any] | None
    versions: dict[str, str]
    test_file: str | None
    test_samples: int | None


CARD_HYPERPARAMETERS = (
    "objective",
    "pooling",
    "calibrate",
    "max_length",
    "train_batch_size",
    "num_train_epochs",
    "learning_rate",
    "ensemble",
    "contrastive_pairs",
    "head_first",
    "refit",
    "teacher",
    "teacher_weight",
    "unlabelled_file",
    "weight_decay",
    "warmup_ratio",
    "seed",
    "metric_for_best_model",
    "class_weights",
    "early_stopping_patience",
    "group_by_length",
)


def format_metric(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def format_interval(intervals: dict[str, list[float]] | None, key: str) -> str:
    """A metric's 95% interval as "0.452-0.511"; in words when resampling could not give one (too few
    sentences, or one level only); empty when none was computed."""
    bounds = (intervals or {}).get(key)
    if not bounds:
        return ""
    if any(b is None or b != b for b in bounds):  # None or NaN
        return "none: too few sentences"
    return f"{bounds[0]:.3f}-{bounds[1]:.3f}"


#: Hub metric ids (the `evaluate` library's names where there is one) of the metrics in the card's model-index.
HUB_METRICS = {"accuracy": "accuracy", "macro_f1": "f1", "qwk": "quadratic_weighted_kappa", "mae": "mae"}


def front_matter(info: CardFacts, metrics: dict[str, Any], stock_head: bool = True) -> str:
    """The card's YAML metadata, written by huggingface_hub (so that it is escaped as the hub parses it), with
    a model-index of the validation metrics that the hub shows on the model's page. It names transformers and
    its text-classification pipeline only for a ``stock_head`` that they load; else sentscore, which does."""
    from huggingface_hub import EvalResult, ModelCardData

    final = metrics["final"]
    dataset = Path(info.validation_file or info.train_file or "data").name
    results = [
        EvalResult(
            task_type="text-classification",
            dataset_type="csv",
            dataset_name=dataset,
            dataset_split="validation",
            metric_type=metric_id,
            metric_name=METRIC_NAMES[key],
            metric_value=round(float(final[key]), 4),
        )
        for key, metric_id in HUB_METRICS.items()
        if final.get(key) is not None
    ]
    data = ModelCardData(
        library_name="transformers" if stock_head else "sentscore",
        pipeline_tag="text-classification" if stock_head else None,
        base_model=info.base_model if _is_hub_id(info.base_model) else None,
        tags=["sentscore", "text-classification", "ordinal-regression"],
        model_name=f"sentscore-{Path(info.base_model).name}",
        eval_results=results or None,
    )
    return data.to_yaml()


def _is_hub_id(name: str) -> bool:
    """Whether ``name`` reads as a hub repository id ("owner/name" or "name"), not a local path."""
    return bool(name) and not Path(name).expanduser().exists() and not name.startswith((".", "/", "~"))


def _long_text_note(metrics: dict[str, Any]) -> str:
    long = metrics.get("long_texts")
    if not long:
        return ""
    return (
        f"\n- {long['train']} training and {long['validation']} validation texts were longer than max_length "
        f"({long['max_length']} tokens); training read their first {long['max_length']} tokens, and scoring reads "
        "a long text whole, in overlapping windows."
    )


def model_card(
    info: CardFacts,
    metrics: dict[str, Any],
    confusion_image: str,
    curve_image: str,
    reliability_image: str,
    stock_head: bool = True,
) -> str:
    """The model card (README.md): use, data, validation metrics against the baseline, training, limits.
    ``stock_head``: whether transformers' own classes (and so ``pipeline``) load the folder, which its front
    matter says."""
    return _card_use_and_data(info, metrics, stock_head) + _card_results(
        info, metrics, confusion_image, curve_image, reliability_image
    )


def _card_use_and_data(info: CardFacts, metrics: dict[str, Any], stock_head: bool = True) -> str:
    validation = (
        f"`{info.validation_file}`"
        if info.validation_file
        else f"a seeded, stratified {info.config['validation_fraction']:.0%} split of the training file"
    )
    labels = ", ".join(f"`{label}`" for label in info.labels)
    return f"""---
{front_matter(info, metrics, stock_head)}
---

# Sentence scorer fine-tuned from `{info.base_model}`

Trained with sentscore {info.versions.get("sentscore", "unknown")} on
{info.trained_at}. It scores a sentence on the scale {labels}.

## Use

```bash
sentscore predict path/to/this/folder "The food was great but the service was slow."
```

```python
from sentscore import Scorer
Scorer.load("path/to/this/folder").predict(["The food was great but the service was slow."])
```

{_pipeline_note(info)}

## Data

- Training: `{info.train_file}`, {info.train_samples} sentences (text column `{info.text_column}`,
  score column `{info.score_column}`).{_unlabelled_note(info)}
- Validation: {validation}, {info.validation_samples} sentences.{_refit_note(info)}{_test_note(info)}
- Training took {info.train_seconds:.0f} s.{_long_text_note(metrics)}

"""


def _refit_note(info: CardFacts) -> str:
    if not info.config.get("refit"):
        return ""
    return (
        "\n- Refit: once validation had measured the model, it was trained again the same way on the training and "
        f"validation sentences together ({info.train_samples}), and that one is saved; the validation metrics, "
        "calibration and score sets below are those of the model trained without the validation sentences, so the "
        "saved model's probabilities and score sets carry no guarantee of their own: treat their coverage as rough."
    )


def _test_note(info: CardFacts) -> str:
    if not info.test_file:
        return ""
    return (
        f"\n- Test: `{info.test_file}`, {info.test_samples} sentences, never trained or validated on, scored once by "
        "the kept model."
    )


def _metric_rows(found: dict[str, Any], baseline: dict[str, Any]) -> str:
    return "\n".join(
        f"| {name} | {format_metric(found.get(key))} | {format_interval(found.get('intervals'), key)} | "
        f"{format_metric(baseline.get(key))} |"
        for key, name in METRIC_NAMES.items()
        if key in found
    )


def test_sentences_seen(test: dict[str, Any]) -> int:
    """How many of the test file's sentences the model trained or validated on (0 for a folder written before
    sentscore counted them)."""
    held = test.get("held_out")
    return 0 if not held else held["sentences"] - held["held_out"]


def _test_section(metrics: dict[str, Any]) -> str:
    test = metrics.get("test")
    if not test:
        return ""
    seen = test_sentences_seen(test)
    what = (
        f"{test['n']} sentences, **{seen} of them trained or validated on**: these figures flatter the model; "
        "quote those of a file it never saw."
        if seen
        else f"{test['n']} sentences the model never trained on and that played no part in choosing the epoch\n"
        "or calibrating: the figures to quote."
    )
    return f"""## Test metrics

`{test["file"]}`, {what} Scored as `sentscore predict` scores them; intervals by bootstrap.

| Metric | Model | 95% interval | Baseline |
|---|---|---|---|
{_metric_rows(test, metrics["majority_baseline"])}

"""


def _unlabelled_note(info: CardFacts) -> str:
    if not info.unlabelled_samples:
        return ""
    return (
        f"\n- Unlabelled: `{Path(info.config.get('unlabelled_file') or '').name}`, {info.unlabelled_samples} "
        f"sentences without a score, learnt from the teacher's distributions (`{info.config.get('teacher')}`)."
    )


def _baseline_words(baseline: dict[str, Any]) -> str:
    """What the baseline column is: the levels a model that ignores the text would predict."""
    predicts = baseline.get("predicts", {})
    if "distance" not in predicts:
        return "The baseline always predicts the most common training score."
    return (
        f"The baseline ignores the text: it always predicts the most common training score "
        f"({predicts['accuracy']}) for accuracy and macro-F1, and the median training score "
        f"({predicts['distance']}) for the distance metrics (MAE, RMSE, within one, QWK, Spearman)."
    )


def _card_results(
    info: CardFacts, metrics: dict[str, Any], confusion_image: str, curve_image: str, reliability_image: str
) -> str:
    config = info.config
    final, baseline = metrics["final"], metrics["majority_baseline"]
    rows = _metric_rows(final, baseline)
    params = "\n".join(
        f"| `{key}` | {config.get(key)} |"
        for key in CARD_HYPERPARAMETERS
        if key not in ("teacher_weight", "unlabelled_file") or config.get("teacher")  # these need a teacher
    )
    epochs = "\n".join(
        f"| {e['epoch']}{' (kept)' if e.get('kept') else ''} | {format_metric(e.get('train_loss'))} | "
        f"{format_metric(e.get('loss'))} | {format_metric(e.get(metrics['primary_metric']))} |"
        for e in metrics["epochs"]
    )
    kept = next((e for e in metrics["epochs"] if e.get("kept")), None)
    return f"""{_test_section(metrics)}## Validation metrics

{_kept_words(kept, config, metrics["primary_metric"])} {_baseline_words(baseline)}{_shared_words(metrics)}
The 95% intervals come from resampling the validation sentences (bootstrap): they show how much
each figure owes to which sentences happened to be held out.

| Metric | Model | 95% interval | Baseline |
|---|---|---|---|
{rows}

{_calibration_note(info)}

![Reliability diagram]({reliability_image})

![Confusion matrix]({confusion_image})

## Training

{_epochs_table(epochs, metrics["primary_metric"], curve_image)}

| Hyperparameter | Value |
|---|---|
{params}

## Limitations

The metrics above come from one validation set of {info.validation_samples} sentences; scores on text
from another domain will differ. A text longer than {info.max_length} tokens is scored from overlapping windows
of that length (`--long-texts truncate`: from its start only).{_small_validation_note(final)}
"""


def _epochs_table(rows: str, primary: str, curve_image: str) -> str:
    if not rows:
        return "No fine-tuning epochs (the few-label path): the contrastive step and the fitted head are the training."
    header = f"| Epoch | Train loss | Validation loss | {primary} |\n|---|---|---|---|"
    return f"{header}\n{rows}\n\n![Training curve]({curve_image})"


def _shared_words(metrics: dict[str, Any]) -> str:
    shared = metrics.get("validation_also_trained_on")
    if not shared:
        return ""
    return (
        f"\n**{shared} validation sentences are training sentences too**: these figures, and the epoch they chose,"
        " flatter the model."
    )


def _kept_words(kept: dict[str, Any] | None, config: dict[str, Any], primary: str) -> str:
    if kept:
        return f"The model of epoch {kept['epoch']:g} was kept, the best by `{primary}`."
    if config.get("num_train_epochs") == 0:
        return "No fine-tuning epochs: the contrastive step trained the encoder and the head was fitted on it."
    return f"The best epoch was chosen by `{primary}`."


#: An accuracy interval wider than this, and the card says how little the validation set tells.
WIDE_INTERVAL = 0.2


def _small_validation_note(final: dict[str, Any]) -> str:
    bounds = (final.get("intervals") or {}).get("accuracy")
    if not bounds or None in bounds or bounds[1] - bounds[0] <= WIDE_INTERVAL:
        return ""
    return (
        f" The accuracy's 95% interval is {bounds[1] - bounds[0]:.0%} wide: so few validation sentences tell little"
        " of how good the model is; `sentscore evaluate` on a labelled file it never saw tells more."
    )


def _pipeline_note(info: CardFacts) -> str:
    from .objectives import OBJECTIVES, AveragedProbabilities

    if info.objective == AveragedProbabilities.name:
        first, count = info.config.get("seed"), info.config.get("ensemble")
        return (
            f"This model is an ensemble: {count} models, trained alike with the seeds {first} to "
            f"{first + count - 1}, run together and their probabilities averaged (so it scores at {count} times "
            "one model's cost). `transformers.pipeline` and the `AutoModel` classes refuse the folder with a message "
            "that says so. Score it with sentscore, or export it to ONNX (one graph) with `sentscore export`."
        )
    if OBJECTIVES[info.objective].stock_head and info.pooling == "cls":
        calibrated = (info.calibration or {}).get("in_weights")
        return (
            '`transformers.pipeline("text-classification", model="path/to/this/folder")` and '
            "`AutoModelForSequenceClassification` work too and return the real score labels, with "
            + (
                "sentscore's calibrated probabilities (the temperature is in the classifier's weights)."
                if calibrated
                else "the probabilities as trained (sentscore's are calibrated)."
            )
        )
    return (
        f"This model reads the sentence by {info.pooling} pooling with a `{info.objective}` head, which the stock "
        "`transformers` classes do not have: `transformers.pipeline` and the `AutoModel` classes refuse the folder "
        "with a message that says so. Score it with sentscore, or export it to ONNX with `sentscore export`."
    )


def _calibration_note(info: CardFacts) -> str:
    calibration = info.calibration
    if not calibration:
        return "The probabilities are as trained (not calibrated)."
    if calibration["method"] == "none":
        return (
            f"The probabilities are as trained: {calibration['sentences']} validation sentences are too few to "
            f"calibrate them (at least {calibration['too_few_below']}); expected calibration error "
            f"{calibration['ece_before']:.4f} on them."
        )
    return (
        f"The probabilities are calibrated by temperature scaling (temperature {calibration['temperature']:.3f}, "
        f"fitted on the {calibration['sentences']} validation sentences): expected calibration error "
        f"{calibration['ece_before']:.4f} before, {calibration['ece_after']:.4f} after, on those same sentences. "
        "`sentscore predict --set 0.9` gives the set of likeliest scores that holds the true score for 90% of "
        "sentences like the validation ones (split conformal prediction); a set may have a gap (1 or 5) where "
        "the model is torn."
    )
