"""Backends that run a trained model's forward pass: PyTorch on the safetensors weights, or an ONNX export on
ONNX Runtime or OpenVINO (neither imports torch or transformers, so a one-sentence CLI call starts fast).

A runner maps a padded batch of token ids to the head's raw outputs; the objective turns those into
probabilities. Both share one tokenizer (the folder's ``tokenizer.json``, through ``tokenizers``) and one way
of batching: sentences sorted by length, so each batch pads only to its own longest sentence.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SentscoreError

#: Backend names: "auto" uses an ONNX export when the folder has one (int8 first), else PyTorch; it runs the fp32
#: export on OpenVINO in bf16 where OpenVINO is installed and the CPU multiplies bf16 natively, else on ONNX Runtime.
BACKENDS = ("auto", "torch", "onnx", "openvino")
#: The backends that run an ONNX export, on the CPU.
ONNX_BACKENDS = ("onnx", "openvino")
#: Where the torch backend scores: the CPU (the default), a GPU, or auto (CUDA, then Apple MPS, then the CPU).
#: ONNX Runtime scores on the CPU.
DEVICES = ("cpu", "auto", "cuda", "mps")
#: Sentences per batch when scoring (and in the export's checks, which score as predict does).
DEFAULT_BATCH_SIZE = 64
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")

#: A padded batch (input name -> int64 array of shape (batch, length)) to the head's outputs.
Runner = Callable[[dict[str, np.ndarray]], np.ndarray]


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise SentscoreError(f"Unknown backend '{backend}'", hint=f"Use one of {', '.join(BACKENDS)}.")


def scoring_backend(backend: str, device: str, onnx_file: str | None = None) -> tuple[str, str]:
    """The backend and the device to score with: a GPU (asked for, or found by "auto") scores with the torch
    backend; the ONNX backend scores on the CPU alone; ``onnx_file`` names one of the exports, for any backend but
    torch."""
    from ..model.folder import ONNX_FILES
    from ..model.loading import pick_device

    check_backend(backend)
    if onnx_file is not None and onnx_file not in ONNX_FILES:
        raise SentscoreError(f"Unknown ONNX export '{onnx_file}'", hint=f"Use one of {', '.join(ONNX_FILES)}.")
    if backend == "torch" and onnx_file:
        raise SentscoreError(
            f"--backend torch scores with the PyTorch weights, not with {onnx_file}",
            hint="Leave out one of them: --onnx-file alone scores with that export.",
        )
    if device not in DEVICES:
        raise SentscoreError(f"Unknown device '{device}'", hint=f"Use one of {', '.join(DEVICES)}.")
    if (backend in ONNX_BACKENDS or onnx_file) and device not in ("cpu", "auto"):
        raise SentscoreError(
            f"the {'OpenVINO' if backend == 'openvino' else 'ONNX'} backend scores on the CPU, not on '{device}'",
            hint=f"Use --backend torch --device {device} to score on the GPU, or --device cpu.",
        )
    resolved = "cpu" if device == "cpu" or backend in ONNX_BACKENDS or onnx_file else pick_device(device)
    return ("torch" if resolved != "cpu" else backend), resolved


def check_long_texts(long_texts: str) -> None:
    if long_texts not in LONG_TEXTS:
        raise SentscoreError(f"Unknown long_texts '{long_texts}'", hint=f"Use one of {', '.join(LONG_TEXTS)}.")


#: How a text longer than the model's max_length tokens is scored: from overlapping windows, or its start.
LONG_TEXTS = ("windows", "truncate")
SPECIAL_TOKENS = 2  # [CLS] and [SEP] in every window


def window_overlap(max_length: int) -> int:
    """Tokens that consecutive windows share: a quarter of a window, so that no phrase is only ever cut."""
    return max(0, min(max_length // 4, max_length - SPECIAL_TOKENS - 1))


def load_tokenizer(path: Path, max_length: int, overlap: int = 0) -> Any:
    """The fast tokenizer of ``tokenizer.json``, truncating at ``max_length`` and not padding; the rest of a
    longer text is in each encoding's ``overflowing`` windows, which share ``overlap`` tokens."""
    from tokenizers import Tokenizer

    return truncating(Tokenizer.from_file(str(path)), max_length, overlap)


def truncating(tokenizer: Any, max_length: int, overlap: int = 0) -> Any:
    """``tokenizer`` (a ``tokenizers.Tokenizer``) set to truncate at ``max_length`` and not pad, as scoring
    tokenizes; returns it."""
    tokenizer.enable_truncation(max_length=max_length, stride=overlap)
    tokenizer.no_padding()
    return tokenizer


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Positions of the items, in batches of ``batch_size`` items of similar length (shortest first)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def pad(encodings: Sequence[Any]) -> dict[str, np.ndarray]:
    """``tokenizers`` encodings, zero-padded to the longest, as the model's int64 inputs."""
    width = max(len(e.ids) for e in encodings)
    batch = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in INPUT_NAMES}
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        batch["input_ids"][row, :n] = encoding.ids
        batch["attention_mask"][row, :n] = encoding.attention_mask
        batch["token_type_ids"][row, :n] = encoding.type_ids
    return batch


def run_in_batches(
    run: Runner,
    encodings: Sequence[Any],
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """The head's outputs for every encoding, in input order, from length-sorted batches."""
    outputs = None
    for positions in length_sorted_batches([len(e.ids) for e in encodings], batch_size):
        batch_outputs = run(pad([encodings[i] for i in positions]))
        if outputs is None:
            outputs = np.empty((len(encodings), batch_outputs.shape[1]), dtype=np.float32)
        outputs[positions] = batch_outputs
        if progress:
            progress(len(positions))
    return outputs if outputs is not None else np.zeros((0, 0), dtype=np.float32)


def torch_runner(model: Any, device: str = "cpu") -> Runner:
    """A runner over a loaded PyTorch model, in inference mode, on ``device``, in the model's own precision."""
    import inspect

    import torch

    model.eval().to(device)
    # DistilBERT-style models take no token_type_ids; BERT does.
    accepted = set(inspect.signature(model.forward).parameters) & set(INPUT_NAMES)

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            inputs = {k: torch.from_numpy(v).to(device) for k, v in batch.items() if k in accepted}
            return model(**inputs).logits.float().cpu().numpy()

    return run


def onnx_session(path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime session on the CPU with every graph optimization; ``threads`` for its operators."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        raise SentscoreError(f"Could not load {path}: {exc}", hint="Export it again with `sentscore export`.") from None


def onnx_runner(session: Any) -> Runner:
    """A runner over an ONNX Runtime session; it feeds the inputs the graph declares."""
    names = [i.name for i in session.get_inputs()]
    output = session.get_outputs()[0].name

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        return session.run([output], {name: batch[name] for name in names})[0]

    return run


def onnx_scoring(path: Path, threads: int | None = None, one_sentence_at_a_time: bool = False) -> Runner:
    """A runner over the ONNX graph ``path``. ``one_sentence_at_a_time`` for a graph that quantizes its
    activations at run time over the whole tensor it is given (dynamic int8): a sentence's outputs would then
    depend on the other sentences of its batch and on their padding, so each sentence runs alone, unpadded,
    and ``threads`` sentences run at once (one thread each) instead of one batch on ``threads`` threads."""
    if not one_sentence_at_a_time:
        return onnx_runner(onnx_session(path, threads))
    from concurrent.futures import ThreadPoolExecutor

    run_one = onnx_runner(onnx_session(path, 1))
    workers = threads or os.cpu_count() or 1

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        lengths = batch["attention_mask"].sum(axis=1)
        rows = [{name: value[i : i + 1, : lengths[i]] for name, value in batch.items()} for i in range(len(lengths))]
        if workers == 1 or len(rows) == 1:
            return np.concatenate([run_one(row) for row in rows])
        # ONNX Runtime runs a session from several threads at once, and lets go of the GIL while it does
        with ThreadPoolExecutor(min(workers, len(rows))) as pool:
            return np.concatenate(list(pool.map(run_one, rows)))

    return run


def on_openvino(backend: str, onnx_file: str) -> bool:
    """Whether the export ``onnx_file`` runs on OpenVINO: asked for, or by "auto" for the fp32 export where
    :func:`~.openvino_backend.openvino_is_faster`. The int8 export quantizes each input as a whole, so it runs on
    ONNX Runtime alone."""
    from ..model.folder import ONNX_RUN_ALONE
    from . import openvino_backend

    if backend != "openvino":
        return backend == "auto" and onnx_file not in ONNX_RUN_ALONE and openvino_backend.openvino_is_faster()
    if onnx_file in ONNX_RUN_ALONE:
        raise SentscoreError(
            f"--backend openvino runs the fp32 export, not {onnx_file}",
            hint="Leave out --onnx-file, or score the int8 export with --backend onnx.",
        )
    if not openvino_backend.openvino_installed():
        raise SentscoreError(
            "--backend openvino needs OpenVINO, which is not installed",
            hint='Install it with `pip install "sentscore[openvino]"`, or use --backend onnx.',
        )
    return True


def load_runner(
    folder: Any, backend: str, onnx_path: Path | None, threads: int | None, device: str, batch_size: int
) -> tuple[Runner, str]:
    """The runner of the ``folder`` (a ``ModelFolder``) and the backend it runs on: the export ``onnx_path`` on
    OpenVINO or ONNX Runtime (:func:`on_openvino` decides), else the PyTorch weights on ``device``."""
    from ..model.folder import ONNX_RUN_ALONE, WEIGHTS_FILE

    if onnx_path is not None and on_openvino(backend, onnx_path.name):
        from .openvino_backend import openvino_scoring

        return verified_while_loading(
            folder, onnx_path.name, lambda path: openvino_scoring(path, threads, batch_size, folder.info().max_length)
        ), "openvino"
    if onnx_path is not None:
        alone = onnx_path.name in ONNX_RUN_ALONE
        return verified_while_loading(folder, onnx_path.name, lambda path: onnx_scoring(path, threads, alone)), "onnx"
    from ..model.loading import load_trained

    folder.verify(WEIGHTS_FILE)
    return torch_runner(load_trained(folder.path), device), "torch"


def verified_while_loading(folder: Any, name: str, load: Callable[[Path], Runner]) -> Runner:
    """``load`` of the folder's file ``name``, while another thread checks the file against its recorded checksum
    (hashing an export takes about as long as building its session; both let go of the GIL). A file that is not
    the one sentscore wrote is refused as such, even where ``load`` failed on it first."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        checked = pool.submit(folder.verify, name)
        try:
            run = load(folder.file(name))
        except SentscoreError:
            checked.result()
            raise
        checked.result()
    return run
