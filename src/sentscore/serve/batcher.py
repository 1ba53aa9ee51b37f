"""Dynamic batching: gather concurrent requests for a few milliseconds and score them together.

Like the dynamic batchers of Triton and TorchServe: the first waiting request opens a window of
``max_wait_ms``; everything that arrives in it (up to ``max_batch_size`` sentences) is run through the
model in one forward pass on a worker thread, so the event loop never blocks on the model.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

logger = logging.getLogger(__name__)

ScoreFn = Callable[[Sequence[str]], np.ndarray]

#: A request is refused at once when its expected wait is over this share of its timeout.
ADMIT_SHARE_OF_TIMEOUT = 0.8


class Overloaded(Exception):
    """More requests wait than the server takes, or a request waited longer than its timeout."""

    def __init__(self, message: str, retry_after_s: int = 1):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DynamicBatcher:
    """``await batcher.score(sentences)`` returns that request's probabilities, in order.

    At most ``max_pending`` requests wait or run at once; one more is refused at once with :class:`Overloaded`
    rather than queued without bound (memory and latency would grow without end), and one that has not been
    answered within ``timeout_s`` is given up with :class:`Overloaded` too."""

    def __init__(
        self,
        score_fn: ScoreFn,
        max_batch_size: int = 64,
        max_wait_ms: float = 5.0,
        enabled: bool = True,
        max_pending: int = 256,
        timeout_s: float = 30.0,
    ):
        self.score_fn = score_fn
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.enabled = enabled
        self.max_pending, self.timeout_s = max_pending, timeout_s
        self.pending = 0
        self.queued_sentences = 0  # admitted and not yet answered
        self.seconds_per_sentence: float | None = None  # measured on the batches scored so far
        self._executor: ThreadPoolExecutor | None = None  # made on first use; the app's lifespan may restart it
        self._queue: asyncio.Queue[tuple[Sequence[str], asyncio.Future]] | None = None
        self._worker: asyncio.Task | None = None

    async def start(self) -> None:
        if self.enabled and self._worker is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._run(), name="sentscore-batcher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def executor(self) -> ThreadPoolExecutor:
        """The model's thread. One: parallel forward passes would only fight over the same cores."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sentscore-model")
        return self._executor

    async def score(self, sentences: Sequence[str]) -> np.ndarray:
        if self.pending >= self.max_pending:
            raise Overloaded(f"the server already has {self.pending} requests waiting; try again shortly")
        self._refuse_what_would_time_out(len(sentences))
        self.pending += 1
        self.queued_sentences += len(sentences)
        try:
            return await asyncio.wait_for(self._score(sentences), self.timeout_s)
        except TimeoutError:
            raise Overloaded(f"the request was not answered within {self.timeout_s:g} s; try again shortly") from None
        finally:
            self.pending -= 1
            self.queued_sentences -= len(sentences)

    def _refuse_what_would_time_out(self, sentences: int) -> None:
        """Refuse at once a request that, at the speed measured so far, would wait past most of its timeout
        behind the sentences already admitted: the server then spends its time on requests it will answer,
        instead of scoring requests whose clients were already told 503 (a request alone is always taken)."""
        if self.seconds_per_sentence is None or self.queued_sentences == 0:
            return
        wait = (self.queued_sentences + sentences) * self.seconds_per_sentence
        if wait > ADMIT_SHARE_OF_TIMEOUT * self.timeout_s:
            raise Overloaded(
                f"the server has {self.queued_sentences} sentences to score first (about {wait:.0f} s); "
                "try again shortly",
                retry_after_s=max(1, math.ceil(self.queued_sentences * self.seconds_per_sentence)),
            )

    def _timed(self, texts: list[str]) -> np.ndarray:
        """Score ``texts`` and update the speed estimate (a moving average, so that it follows the load)."""
        started = time.perf_counter()
        result = self.score_fn(texts)
        latest = (time.perf_counter() - started) / max(1, len(texts))
        previous = self.seconds_per_sentence
        self.seconds_per_sentence = latest if previous is None else 0.7 * previous + 0.3 * latest
        return result

    async def _score(self, sentences: Sequence[str]) -> np.ndarray:
        loop = asyncio.get_running_loop()
        if not self.enabled or self._queue is None:
            return await loop.run_in_executor(self.executor(), self._timed, list(sentences))
        future: asyncio.Future = loop.create_future()
        await self._queue.put((sentences, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            size = len(batch[0][0])
            deadline = loop.time() + self.max_wait
            while size < self.max_batch_size:
                # Requests that arrived while the model was busy join at once; only an empty queue waits.
                if not self._queue.empty():
                    item = self._queue.get_nowait()
                else:
                    timeout = deadline - loop.time()
                    if timeout <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self._queue.get(), timeout)
                    except TimeoutError:
                        break
                batch.append(item)
                size += len(item[0])
            await self._score_batch(batch, loop)

    async def _score_batch(self, batch: list[tuple[Sequence[str], asyncio.Future]], loop) -> None:
        live = [(s, f) for s, f in batch if not f.cancelled()]  # the client may have gone away
        if not live:
            return
        texts = [text for sentences, _ in live for text in sentences]
        try:
            probs = await loop.run_in_executor(self.executor(), self._timed, texts)
        except Exception as error:  # noqa: BLE001 - hand the failure to each waiting request
            logger.exception("Scoring a batch of %d sentences failed", len(texts))
            for _, future in live:
                if not future.done():
                    future.set_exception(error)
            return
        start = 0
        for sentences, future in live:
            if not future.done():
                future.set_result(probs[start : start + len(sentences)])
            start += len(sentences)
