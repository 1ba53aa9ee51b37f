"""Scoring in several processes, for machines with more cores than one scorer uses well: each worker process
loads the model once (its own ONNX session or PyTorch model, with one thread) and scores the pieces of each
chunk it is handed; the pieces come back in their order."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from .openvino_backend import openvino_runtime_only

_scorer: Any = None  # the worker process's own scorer, loaded once by _load


def _load(load: Callable[[], Any], one_torch_thread: bool) -> None:
    global _scorer
    openvino_runtime_only()  # a worker process is sentscore's own, and never converts a model
    if one_torch_thread:
        import torch

        torch.set_num_threads(1)  # a worker process is sentscore's own: one thread each, the cores shared out
    _scorer = load()


def _score(texts: list[str]) -> np.ndarray:
    return _scorer.predict_proba(texts)


class ScoringPool:
    """``workers`` processes, each scoring with what ``load`` returns (a picklable callable, such as a partial of
    ``Scorer.load``, giving an object with ``predict_proba``); use it as a context manager. Processes are
    spawned, not forked, so that no thread pool of the parent is copied half-way."""

    def __init__(self, load: Callable[[], Any], workers: int, levels: int, one_torch_thread: bool = False) -> None:
        self.workers, self.levels = workers, levels
        self._pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load,
            initargs=(load, one_torch_thread),
        )

    def __enter__(self) -> ScoringPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(cancel_futures=True)

    def predict_proba(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """The texts' distributions, scored in one piece per worker, in the texts' order."""
        if not texts:
            return np.empty((0, self.levels))
        size = -(-len(texts) // self.workers)
        pieces = [list(texts[start : start + size]) for start in range(0, len(texts), size)]
        futures = [self._pool.submit(_score, piece) for piece in pieces]
        results = []
        for piece, future in zip(pieces, futures, strict=True):
            results.append(future.result())
            if progress is not None:
                progress(len(piece))
        return np.concatenate(results)
