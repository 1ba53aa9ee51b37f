"""OpenVINO, the backend that runs the fp32 export fastest where the CPU multiplies bf16 natively: whether it is
installed and would be faster here, its import without the model conversion tools, the cache of the models it
compiled, and its runner. The ``openvino`` package is an extra, imported only when a model runs on it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SentscoreError


def openvino_installed() -> bool:
    """Whether OpenVINO can be imported (the ``openvino`` extra)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


#: OpenVINO's model conversion tools, which ``import openvino`` imports too, unless they cannot be imported.
OPENVINO_TOOLS = "openvino.tools.ovc"


def openvino_runtime_only() -> None:
    """For a process sentscore owns (the CLI's, its worker processes'): ``import openvino`` then leaves out the
    model conversion tools, which sentscore never calls (it reads its ONNX export with the runtime alone). Their
    import took 0.14 s of a one-sentence predict, and sent a usage event to OpenVINO's telemetry from a forked
    process that the process then waited for at exit (up to 3 s where the network hangs): docs/decisions.md."""
    if "openvino" not in sys.modules:
        sys.modules.setdefault(OPENVINO_TOOLS, None)  # openvino's __init__ skips the tools on an ImportError


def import_openvino() -> Any:
    """The ``openvino`` module: without its tools where :func:`openvino_runtime_only` was called and the
    installed release imports without them, else with them."""
    try:
        import openvino
    except ImportError:
        if OPENVINO_TOOLS not in sys.modules or sys.modules[OPENVINO_TOOLS] is not None:
            raise
        del sys.modules[OPENVINO_TOOLS]  # a release that cannot do without its tools
        import openvino
    return openvino


def openvino_precision(core: Any) -> str:
    """The precision OpenVINO multiplies in on this CPU: "bf16" where the CPU does so natively (AVX512-BF16,
    AMX), else "f32". Chosen when the model loads, as training chooses bf16."""
    return "bf16" if "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "f32"


#: Where Linux lists the CPU's flags.
CPUINFO = "/proc/cpuinfo"
#: The flags (as Linux names them) of the instructions with which OpenVINO multiplies bf16 natively: AVX512-BF16,
#: AMX, and AVX-NE-CONVERT (bf16 on the AVX2 cores of recent client CPUs).
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "avx_ne_convert"})


def cpu_lacks_bf16() -> bool:
    """Whether the CPU's flags show none of :data:`BF16_FLAGS`, so that OpenVINO need not be imported to learn that
    it would multiply in f32 (docs/decisions.md).
    False where they show one, or cannot be read (not Linux): OpenVINO is then asked."""
    try:
        with open(CPUINFO, encoding="utf-8") as handle:
            flags = next((line.partition(":")[2].split() for line in handle if line.startswith("flags")), None)
    except OSError:
        return False
    return flags is not None and not BF16_FLAGS.intersection(flags)


def openvino_is_faster() -> bool:
    """Whether "auto" runs the fp32 export on OpenVINO: it is installed and the CPU multiplies bf16 natively
    (docs/decisions.md: in f32 it is no faster than ONNX Runtime, so that stays the backend elsewhere)."""
    if not openvino_installed() or cpu_lacks_bf16():
        return False
    return openvino_precision(import_openvino().Core()) == "bf16"


#: How many models OpenVINO's cache keeps compiled (about 90 MB each for the bundled model), the newest first.
OPENVINO_CACHED_MODELS = 4


def openvino_cache() -> Path | None:
    """Where OpenVINO keeps the models it compiled for this CPU, so that a later load imports one instead of
    compiling it again (about three quarters of a load; docs/decisions.md): ``SENTSCORE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/sentscore`` or ``~/.cache/sentscore``, in ``openvino/``. OpenVINO keys each entry by the
    model, its settings and the CPU, and compiles a changed export again. None where the folder cannot be made."""
    root = os.environ.get("SENTSCORE_CACHE_DIR") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "sentscore"
    )
    cache = Path(root) / "openvino"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return cache if os.access(cache, os.W_OK) else None


def prune_openvino_cache(cache: Path, keep: int = OPENVINO_CACHED_MODELS) -> None:
    """Delete all but the ``keep`` newest compiled models of ``cache`` (a process reading one keeps it open)."""
    blobs = sorted(cache.glob("*.blob"), key=lambda blob: blob.stat().st_mtime, reverse=True)
    for blob in blobs[keep:]:
        blob.unlink(missing_ok=True)


#: The fewest sentences a piece of a group runs as: smaller pieces cost more in calls than they gain in streams.
OPENVINO_PIECE = 8
#: A sentence runs padded to its own length rounded up to a multiple of this: fewer shapes for the CPU plugin to
#: prepare kernels for, and larger pieces (docs/decisions.md).
OPENVINO_WIDTH_STEP = 8


def piece_widths(lengths: np.ndarray, max_length: int) -> np.ndarray:
    """The width each sentence runs at: its length rounded up to a multiple of :data:`OPENVINO_WIDTH_STEP`, at
    most ``max_length`` (the model's) and never below its length. It depends on the sentence alone."""
    rounded = -(-lengths // OPENVINO_WIDTH_STEP) * OPENVINO_WIDTH_STEP
    return np.maximum(lengths, np.minimum(rounded, max_length))


def piece_inputs(array: np.ndarray, rows: np.ndarray, lengths: np.ndarray, width: int) -> np.ndarray:
    """``array``'s ``rows`` at ``width`` columns: each row's own tokens, then zeros, whatever the batch held past
    them (its padding, or a longer companion's width), so that a row's input is the same in every batch."""
    piece = np.zeros((len(rows), width), dtype=array.dtype)
    have = min(width, array.shape[1])
    piece[:, :have] = array[rows, :have]
    piece[np.arange(width)[None, :] >= lengths[rows, None]] = 0
    return piece


#: Batches handed to OpenVINO in one call, so that its streams always have pieces to run at once.
OPENVINO_CALL_BATCHES = 16


def _compiled(path: Path, streams: int) -> Any:
    """The ONNX graph ``path`` compiled for the CPU plugin with ``streams`` streams of one thread each, in bf16
    where the CPU multiplies bf16 natively; from OpenVINO's cache where it compiled it before."""
    core = import_openvino().Core()
    properties: dict[str, Any] = {
        "INFERENCE_PRECISION_HINT": openvino_precision(core),
        "PERFORMANCE_HINT": "THROUGHPUT",
        "NUM_STREAMS": streams,
        "INFERENCE_NUM_THREADS": streams,  # one thread a stream
    }
    if cache := openvino_cache():
        properties["CACHE_DIR"] = str(cache)
    try:
        compiled = core.compile_model(str(path), "CPU", properties)
    except Exception as exc:  # noqa: BLE001 - OpenVINO raises its own untyped errors
        raise SentscoreError(f"Could not load {path}: {exc}", hint="Export it again with `sentscore export`.") from None
    if cache:
        prune_openvino_cache(cache)
    return compiled


def openvino_scoring(
    path: Path, threads: int | None, batch_size: int, max_length: int
) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """A runner over the ONNX graph ``path`` on OpenVINO's CPU plugin, in bf16 where the CPU multiplies bf16
    natively. Its kernels depend on the shape of what they are given (a sentence padded to another width can
    score apart from itself), so each sentence runs at a width its own length sets (:func:`piece_widths`), its
    positions past its length zero: a sentence's outputs are then those it has alone, whatever its companions
    (the consistency suite holds it to that). A batch runs as groups of one width, cut into pieces of at most
    ``batch_size`` sentences that run at once on ``threads`` streams of one thread each (default: every core),
    which scored faster than one stream on every thread (docs/decisions.md); handed
    :data:`OPENVINO_CALL_BATCHES` batches at a time, the streams seldom wait."""
    streams = threads or os.cpu_count() or 1
    compiled = _compiled(path, streams)
    names = [i.get_any_name() for i in compiled.inputs]
    levels = compiled.output(0).get_partial_shape()[1].get_length()
    # Requests of this thread's own (a server scores from several), one a stream. No Python callback runs on
    # OpenVINO's threads, so none of them waits for the GIL while the compiled model is freed.
    own = threading.local()

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        if not hasattr(own, "requests"):
            own.requests = [compiled.create_infer_request() for _ in range(streams)]
        lengths = batch["attention_mask"].sum(axis=1)
        outputs = np.empty((len(lengths), levels), dtype=np.float32)
        pending: list[np.ndarray | None] = [None] * streams

        def collect(slot: int) -> None:
            if (rows := pending[slot]) is not None:
                own.requests[slot].wait()
                outputs[rows] = own.requests[slot].get_output_tensor(0).data
                pending[slot] = None

        slot = 0
        widths = piece_widths(lengths, max_length)
        for width in np.unique(widths):
            group = np.flatnonzero(widths == width)
            size = min(batch_size, max(OPENVINO_PIECE, -(-len(group) // streams)))
            for start in range(0, len(group), size):
                rows = group[start : start + size]
                collect(slot)
                inputs = {name: piece_inputs(batch[name], rows, lengths, int(width)) for name in names}
                own.requests[slot].start_async(inputs)
                pending[slot], slot = rows, (slot + 1) % streams
        for each in range(streams):
            collect(each)
        return outputs

    return run
