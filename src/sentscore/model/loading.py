"""Loading models: a base model set up to fine-tune, and a trained folder for scoring or export."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SentscoreError
from .base import DEFAULT_MODEL, config_json, resolve_model_source, trained_mean_pooled

if TYPE_CHECKING:
    from ..data import ScoreScale
    from .objectives import Objective

logger = logging.getLogger(__name__)


#: Model-config attributes holding an encoder's hidden-layer dropout probability across BERT-family
#: architectures (BERT, RoBERTa, ELECTRA, DeBERTa name it one way, DistilBERT the other).
HIDDEN_DROPOUT_KEYS = ("hidden_dropout_prob", "dropout")


def load_for_training(
    name: str,
    scale: ScoreScale,
    dropout: float | None = None,
    objective: Objective | None = None,
    pooling: str = "cls",
    allow_pickle: bool = False,
    max_length: int | None = None,
) -> tuple[Any, Any]:
    """Fast tokenizer and a model to fine-tune: the stock sequence-classification head, labelled after
    ``scale``, for classification from the CLS pooler; otherwise a :class:`~sentscore.heads.SentscoreModel`
    with ``pooling`` and the head ``objective`` asks for (default: classification over ``scale``).

    ``dropout`` replaces the checkpoint's hidden-layer dropout probability when given; a ``max_length`` longer
    than the encoder reads is refused before its weights load.
    Weights load from safetensors only, unless ``allow_pickle`` lets a pickle checkpoint (which can run code
    when loaded) be read; code from a checkpoint is never run.
    """
    from transformers import AutoTokenizer

    from .objectives import Classification

    objective = objective or Classification(len(scale))
    source = resolve_model_source(name)
    _refuse_to_fine_tune(source, name, allow_pickle)
    # A download keeps its progress bar; reading a local folder needs none.
    quiet = quiet_transformers() if Path(source).is_dir() else contextlib.nullcontext()
    try:
        with quiet:
            encoder_config = _encoder_config(source, scale, dropout)
            # given the config, it does not read config.json (guarded in a folder with sentscore's own head)
            tokenizer = AutoTokenizer.from_pretrained(
                source, config=encoder_config, use_fast=True, trust_remote_code=False
            )
            _check_tokenizer_fits(tokenizer, encoder_config, name)
            _check_length_fits(encoder_config, max_length, name)
            options = weight_options(allow_pickle)
            with load_report_silenced():
                if objective.stock_head and pooling == "cls":
                    model, loading_info = _stock_model(source, encoder_config, options)
                    if trained_mean_pooled(source):
                        reset_pooler_to_identity(model)
                else:
                    model, loading_info = _sentscore_model(source, encoder_config, objective, pooling, options)
    except (OSError, ValueError) as exc:
        if not allow_pickle and "safetensors" in str(exc):
            raise _pickle_refused(name) from None
        raise SentscoreError(
            f"Could not load model '{name}': {first_line(exc)}",
            hint=f"A hub id needs network access (or a filled Hugging Face cache). Offline, use the bundled "
            f"default: --model-name {DEFAULT_MODEL}",
        ) from None
    _report_new_weights(model, loading_info, name)
    if not getattr(tokenizer, "is_fast", False):
        logger.warning("No fast tokenizer for %s; tokenization will be slower", name)
    return tokenizer, model


def _refuse_to_fine_tune(source: str, name: str, allow_pickle: bool) -> None:
    """Stop before loading what cannot be fine-tuned: an ensemble, or (without ``allow_pickle``) weights that
    are only a pickle."""
    from .stock_loaders import ENSEMBLE_MODEL_TYPE, own_model_type

    if own_model_type(config_json(source)) == ENSEMBLE_MODEL_TYPE:
        raise SentscoreError(
            f"{name} is an ensemble of several models, which cannot be fine-tuned as one",
            hint="Fine-tune from the model it was trained from (its sentscore.json names it), or from a folder "
            "trained with ensemble: 1.",
        )
    if not allow_pickle:
        _refuse_pickle_only(source, name)


def weight_options(allow_pickle: bool = False) -> dict[str, Any]:
    """``from_pretrained`` options of every model load: safetensors weights only (unless ``allow_pickle``),
    and never a checkpoint's own code."""
    return {"use_safetensors": None if allow_pickle else True, "trust_remote_code": False}


def _refuse_pickle_only(source: str, name: str) -> None:
    """A local folder whose weights are only a pickle checkpoint (pytorch_model.bin) is refused up front."""
    folder = Path(source)
    if folder.is_dir() and not any(folder.glob("*.safetensors")) and any(folder.glob("*.bin")):
        raise _pickle_refused(name)


def _pickle_refused(name: str) -> SentscoreError:
    return SentscoreError(
        f"'{name}' has no safetensors weights, only a pickle checkpoint (pytorch_model.bin), and loading a pickle "
        "can run code hidden in the file",
        hint="Convert it to safetensors (model.save_pretrained(folder) writes model.safetensors), or, for a "
        "checkpoint you trust, pass --allow-pickle (config key allow_pickle).",
    )


def _encoder_config(source: str, scale: ScoreScale, dropout: float | None) -> Any:
    """The checkpoint's encoder config (the encoder's own, for a folder sentscore trained with its own head),
    labelled after ``scale``, with the dropout probability asked for."""
    from transformers import AutoConfig

    model_config = config_json(source)
    if is_sentscore_folder(model_config):
        settings = dict(own_pretrained_config(model_config).encoder)
        encoder_config = AutoConfig.for_model(settings.pop("model_type"), **settings)
        encoder_config.id2label, encoder_config.label2id = scale.id2label, scale.label2id
    else:
        encoder_config = AutoConfig.from_pretrained(
            source,
            trust_remote_code=False,
            id2label=scale.id2label,  # sets the number of labels; passing both warns when a head is resized
            label2id=scale.label2id,
            problem_type="single_label_classification",
        )
    for key in HIDDEN_DROPOUT_KEYS:
        if dropout is not None and hasattr(encoder_config, key):
            setattr(encoder_config, key, dropout)
    return encoder_config


def _stock_model(source: str, encoder_config: Any, options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The stock sequence-classification model. A checkpoint that already has a head for another number of
    labels (a model trained before, on another scale) gets a new head of the right size."""
    from transformers import AutoModelForSequenceClassification

    if is_sentscore_folder(config_json(source)):
        raise SentscoreError(
            f"{source} was trained with sentscore's own head, which the stock classification head cannot reuse",
            hint="Keep its objective and pooling (see its sentscore.json), or start from its base model.",
        )
    return AutoModelForSequenceClassification.from_pretrained(
        source, config=encoder_config, output_loading_info=True, ignore_mismatched_sizes=True, **options
    )


def _sentscore_model(
    source: str, encoder_config: Any, objective: Objective, pooling: str, options: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """A SentscoreModel: the checkpoint's encoder under a new head (or, for a folder sentscore trained with the
    same head, that head too)."""
    from transformers import AutoModel

    from .heads import SentscoreModel, scoring_model

    model_config = config_json(source)
    if is_sentscore_folder(model_config):
        trained = SentscoreModel.from_pretrained(source, config=own_pretrained_config(model_config), **options)
        encoder = trained.encoder
        same = trained.config.num_outputs == objective.num_outputs and trained.config.pooling == pooling
        model = scoring_model(encoder, pooling, objective.num_outputs, objective.name)
        if same and trained.config.objective == objective.name:
            model.head.load_state_dict(trained.head.state_dict())
        return model, {"missing_keys": [] if same else ["head.weight", "head.bias"]}
    encoder, loading_info = AutoModel.from_pretrained(
        source, config=encoder_config, output_loading_info=True, **options
    )
    # The encoder's missing keys keep their encoder-relative names; the head is new.
    prefix = f"{SentscoreModel.base_model_prefix}."
    missing = [prefix + key for key in loading_info.get("missing_keys", ())] + ["head.weight", "head.bias"]
    return scoring_model(encoder, pooling, objective.num_outputs, objective.name), {"missing_keys": missing}


def reset_pooler_to_identity(model: Any) -> None:
    """Start the stock head's pooler (a dense layer and tanh over the first token's vector) as the identity, so
    that fine-tuning begins from the vector the encoder gives rather than from a projection it never used; a
    model without a pooler is left as it is."""
    import torch

    dense = getattr(getattr(model.base_model, "pooler", None), "dense", None)
    if dense is None or dense.weight.shape[0] != dense.weight.shape[1]:
        return
    with torch.no_grad():
        dense.weight.copy_(torch.eye(dense.weight.shape[0]))
        dense.bias.zero_()
    logger.debug("The encoder was trained mean-pooled, so the pooler the stock head reads starts as the identity")


def default_pooling(name: str) -> str:
    """The pooling of a new head: the checkpoint's own for a folder sentscore trained with its own head, else
    CLS, the stock head's, which every loader of the saved folder reads (transformers' pipeline and
    AutoModel classes, the recipe's predict.py), sentence-transformers encoders included (docs/decisions.md)."""
    model_config = config_json(resolve_model_source(name))
    return str(model_config.get("pooling", "mean")) if is_sentscore_folder(model_config) else "cls"


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


#: Encoders whose position ids start after the padding id (RoBERTa's scheme): they read ``pad_token_id + 1`` tokens
#: fewer than they have positions.
POSITIONS_AFTER_PADDING = frozenset(
    {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "mpnet", "longformer", "data2vec-text", "xmod"}
)


def tokens_read(encoder_config: Any) -> int | None:
    """The most tokens an encoder reads, from its position embeddings (None when its config does not say)."""
    positions = getattr(encoder_config, "max_position_embeddings", None)
    if not isinstance(positions, int):
        return None
    if getattr(encoder_config, "model_type", None) in POSITIONS_AFTER_PADDING:
        positions -= (getattr(encoder_config, "pad_token_id", None) or 0) + 1
    return positions


def _check_length_fits(encoder_config: Any, max_length: int | None, name: str) -> None:
    limit = tokens_read(encoder_config)
    if max_length is not None and limit is not None and max_length > limit:
        raise SentscoreError(
            f"max_length {max_length} is more than '{name}' reads: {limit} tokens at most",
            hint=f"Set max_length (--max-length) to {limit} or less; longer texts are then cut or read in windows "
            "(train_long_texts).",
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
    """The trained PyTorch model in ``folder``: stock, sentscore's own head or an ensemble of either
    (``options`` go to ``from_pretrained``)."""
    from transformers import AutoModelForSequenceClassification

    try:
        with quiet_transformers():
            from .ensembles import ProbabilityEnsemble
            from .heads import SentscoreModel
            from .stock_loaders import own_model_type

            model_config = config_json(str(folder))
            model_type = own_model_type(model_config)
            for own in (SentscoreModel, ProbabilityEnsemble):
                if model_type == own.config_class.model_type:
                    config = own_pretrained_config(model_config)
                    return own.from_pretrained(str(folder), config=config, **weight_options(), **options)
            return AutoModelForSequenceClassification.from_pretrained(str(folder), **weight_options(), **options)
    except (OSError, ValueError) as exc:
        raise SentscoreError(f"Could not load the model in {folder}: {exc}", hint="Train the model again.") from None


def is_sentscore_folder(model_config: dict[str, Any]) -> bool:
    """Whether a ``config.json`` describes sentscore's own head (:class:`~sentscore.heads.SentscoreModel`)."""
    from .stock_loaders import HEAD_MODEL_TYPE, own_model_type

    return own_model_type(model_config) == HEAD_MODEL_TYPE


def own_pretrained_config(model_config: dict[str, Any]) -> Any:
    """The config of a folder whose head only sentscore runs (its own head or an ensemble), from its
    ``config.json`` read past the guard that stops stock loaders."""
    from .ensembles import EnsembleConfig
    from .heads import SentscoreConfig
    from .stock_loaders import own_config

    record = own_config(model_config)
    config_class = EnsembleConfig if record["model_type"] == EnsembleConfig.model_type else SentscoreConfig
    return config_class.from_dict(record)


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
