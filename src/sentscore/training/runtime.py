"""The process a training runs in: precision choice, CPU threads, and the process-wide tuning that only a
program owning its process may do (the CLI does; library calls never do).

Why each setting exists, with the measurements behind it, is in docs/decisions.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import TrainConfig

logger = logging.getLogger(__name__)

#: oneDNN primitives kept for reuse when training in bf16 on a CPU: about one training step's products.
ONEDNN_PRIMITIVE_CACHE_CAPACITY = 32

#: Size from which glibc gives an allocation its own memory mapping, returned to the system when freed.
MALLOC_MMAP_THRESHOLD = 4 * 1024 * 1024


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 dot-product instructions (AVX512-BF16) or AMX tiles, which oneDNN uses."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch exposes no public check
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def bf16_by_default(device: str, config: TrainConfig) -> bool:
    """Whether to train in mixed precision bf16 when ``bf16`` is not configured: only on a CPU that multiplies
    bf16 natively (elsewhere bf16 products are emulated, slower than fp32). GPUs keep the framework's fp32
    default unless asked. Never together with ``fp16``."""
    return device == "cpu" and not config.fp16 and cpu_has_native_bf16()


def with_resolved_precision(config: TrainConfig, device: str) -> TrainConfig:
    """``config`` with ``bf16`` decided (:func:`bf16_by_default` when unset)."""
    if config.bf16 is None:
        config = dataclasses.replace(config, bf16=bf16_by_default(device, config))
    if config.bf16 and device == "cpu" and not cpu_has_native_bf16():
        logger.warning(
            "bf16 was asked for, but this CPU has no native bf16 instructions: training will be much slower "
            "than in fp32. Set bf16 to false (or leave it unset) to train in fp32."
        )
    if config.bf16:
        logger.info("Mixed precision bf16: matrix products in bf16, weights and optimizer state in fp32")
    return config


def tune_process_for_training(config: TrainConfig) -> None:
    """Process-wide settings under which ``config`` trains fastest and leanest; for a program that owns its
    process (``sentscore train`` calls it before training). Today: when training in bf16 on a CPU, oneDNN's
    primitive cache is kept to one step's worth and glibc's mmap threshold is fixed, each unless the
    environment already sets it. Call it before anything multiplies in bf16: oneDNN reads its setting once."""
    from ..model.loading import pick_device

    device = pick_device(config.device)
    bf16 = config.bf16 if config.bf16 is not None else bf16_by_default(device, config)
    if device == "cpu" and bf16:
        limit_onednn_primitive_cache()
        fix_malloc_mmap_threshold()


def limit_onednn_primitive_cache() -> None:
    """Keep oneDNN's cache of bf16 matmul primitives to about one training step's worth: its default of 1024,
    filled by the many batch shapes of dynamic padding, holds hundreds of MB more at the peak, and none at all
    rebuilds every product's kernels. A value already in the environment is left alone."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(ONEDNN_PRIMITIVE_CACHE_CAPACITY))


def fix_malloc_mmap_threshold() -> None:
    """Give allocations of 4 MiB and more their own memory mapping. glibc raises this threshold each time such
    a block is freed, after which activations of batches of varying length are carved out of the heap and
    leave it fragmented, so resident memory creeps up over an epoch. Skipped where the C library has no
    ``mallopt`` (not glibc) or MALLOC_MMAP_THRESHOLD_ is set (glibc then read it already)."""
    import ctypes

    mallopt = c_library_function("mallopt")
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or mallopt is None:
        return
    m_mmap_threshold = -3  # from glibc's malloc.h
    if not mallopt(ctypes.c_int(m_mmap_threshold), ctypes.c_int(MALLOC_MMAP_THRESHOLD)):
        logger.debug("mallopt(M_MMAP_THRESHOLD) refused; allocator left as it is")


def c_library_function(name: str) -> Any:
    """The C library's function ``name`` (glibc's malloc tuning), or None where the library has none."""
    import ctypes
    import ctypes.util

    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch CPU threads (None: as they are), then restore the caller's count."""
    import torch

    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
