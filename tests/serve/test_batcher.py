import asyncio
import threading
import time

import numpy as np
import pytest

from sentscore.serve.batcher import DynamicBatcher


class CountingModel:
    """Scores a sentence as its length; records the size of every batch and the thread it ran on."""

    def __init__(self):
        self.batches = []
        self.threads = set()

    def __call__(self, texts):
        self.batches.append(len(texts))
        self.threads.add(threading.current_thread().name)
        return np.array([[len(t)] for t in texts], dtype=float)


def run_concurrently(batcher, requests):
    async def main():
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.score(r) for r in requests))
        finally:
            await batcher.stop()

    return asyncio.run(main())


def test_concurrent_requests_are_gathered_into_few_batches_and_answered_in_order():
    model = CountingModel()
    requests = [["a" * i] for i in range(1, 41)] + [["bb", "ccc"]]
    results = run_concurrently(DynamicBatcher(model, max_batch_size=64, max_wait_ms=20), requests)
    assert [r[:, 0].tolist() for r in results] == [[float(len(s)) for s in r] for r in requests]
    assert sum(model.batches) == 42
    assert len(model.batches) <= 3  # 41 requests, gathered
    assert model.threads == {"sentscore-model_0"}  # never on the event loop's thread


def test_batches_respect_the_maximum_size():
    model = CountingModel()
    run_concurrently(DynamicBatcher(model, max_batch_size=8, max_wait_ms=20), [["x"]] * 30)
    assert max(model.batches) <= 8 and sum(model.batches) == 30


def test_with_no_wait_window_the_requests_already_queued_still_share_a_batch():
    model = CountingModel()
    run_concurrently(DynamicBatcher(model, max_batch_size=64, max_wait_ms=0), [["x"]] * 10)
    assert model.batches == [10]


def test_batching_off_runs_each_request_alone():
    model = CountingModel()
    run_concurrently(DynamicBatcher(model, enabled=False), [["x"], ["y", "z"], ["w"]])
    assert sorted(model.batches) == [1, 1, 2]


def test_a_failing_batch_fails_its_requests_and_the_batcher_keeps_working():
    calls = {"n": 0}

    def flaky(texts):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return np.zeros((len(texts), 1))

    async def main():
        batcher = DynamicBatcher(flaky, max_wait_ms=1)
        await batcher.start()
        try:
            first = await asyncio.gather(batcher.score(["a"]), return_exceptions=True)
            second = await batcher.score(["b"])
        finally:
            await batcher.stop()
        return first, second

    first, second = asyncio.run(main())
    assert isinstance(first[0], RuntimeError)
    assert second.shape == (1, 1)


def slow_model(seconds):
    def score(texts):
        time.sleep(seconds)
        return np.zeros((len(texts), 1))

    return score


@pytest.mark.parametrize("enabled", [True, False])
def test_requests_beyond_the_queue_limit_are_refused_at_once(enabled):
    from sentscore.serve.batcher import Overloaded

    batcher = DynamicBatcher(slow_model(0.3), max_wait_ms=1, enabled=enabled, max_pending=3, timeout_s=10)

    async def main():
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.score(["x"]) for _ in range(8)), return_exceptions=True)
        finally:
            await batcher.stop()

    started = time.perf_counter()
    results = asyncio.run(main())
    refused = [r for r in results if isinstance(r, Overloaded)]
    assert len(refused) == 5 and all("3 requests waiting" in str(r) for r in refused)
    assert sum(isinstance(r, np.ndarray) for r in results) == 3
    assert batcher.pending == 0 and time.perf_counter() - started < 2.5  # the refused did not wait


def test_a_request_not_answered_in_time_is_given_up():
    from sentscore.serve.batcher import Overloaded

    batcher = DynamicBatcher(slow_model(1.0), enabled=False, timeout_s=0.1)
    with pytest.raises(Overloaded, match="not answered within 0.1 s"):
        run_concurrently(batcher, [["x"]])


@pytest.mark.parametrize("enabled", [True, False])
def test_requests_that_would_time_out_behind_the_queue_are_refused_at_once(enabled):
    from sentscore.serve.batcher import Overloaded

    def model(texts):  # 0.05 s a sentence
        time.sleep(0.05 * len(texts))
        return np.zeros((len(texts), 1))

    batcher = DynamicBatcher(model, max_batch_size=10, max_wait_ms=1, enabled=enabled, timeout_s=2.0)

    async def main():
        await batcher.start()
        try:
            await batcher.score(["x"] * 10)  # the batcher learns the speed: 0.5 s for 10
            return await asyncio.gather(*(batcher.score(["x"] * 10) for _ in range(6)), return_exceptions=True)
        finally:
            await batcher.stop()

    results = asyncio.run(main())
    answered = [r for r in results if isinstance(r, np.ndarray)]
    refused = [r for r in results if isinstance(r, Overloaded)]
    # 1.5 s of work fits in 80% of the 2 s timeout; a fourth request would wait 2 s
    assert len(answered) == 3 and len(refused) == 3
    assert all("sentences to score first" in str(r) for r in refused)
    assert batcher.queued_sentences == 0 and batcher.pending == 0
