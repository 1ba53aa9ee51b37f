import asyncio
import threading

import numpy as np

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
