"""The inference pool: at most ``inference_workers`` model calls at once, off the event loop."""

from __future__ import annotations

import asyncio
import functools
import time
from concurrent.futures import ThreadPoolExecutor

from serving import hops
from serving.predictor import Prediction, Predictor


class InferencePool:
    """A call that starts while none runs gets the `ort_threads` session (lowest latency for
    a lone request); calls that overlap get single-thread sessions and run side by side.
    Measured on 2 cores: one text through 2 threads is ~15% faster than through 1, but two
    texts through two 1-thread calls give ~1.6x the throughput of one 2-thread call.
    Unbounded concurrency (the default executor) ran 5 overlapping calls per replica.
    """

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self.workers = 0
        self.running = 0

    def resize(self, workers: int) -> None:
        if workers == self.workers:
            return
        old, self.workers = self._executor, workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inference")
        if old is not None:
            old.shutdown(wait=False)

    async def run(self, predictor: Predictor, texts: list[str]) -> list[Prediction]:
        return (await self.run_measured(predictor, texts))[0]

    async def run_measured(
        self, predictor: Predictor, texts: list[str]
    ) -> tuple[list[Prediction], float]:
        """The predictions and the model call's own milliseconds (in its thread, no wait)."""
        if self._executor is None:
            self.resize(1)
        alone = self.running == 0
        self.running += 1
        timing = hops.current()
        try:
            if timing is None:
                return await asyncio.get_running_loop().run_in_executor(
                    self._executor, functools.partial(_measured, predictor, texts, alone)
                )
            return await self._run_timed(predictor, texts, alone, timing.spans)
        finally:
            self.running -= 1

    async def _run_timed(
        self, predictor: Predictor, texts: list[str], alone: bool, spans: dict[str, float]
    ) -> tuple[list[Prediction], float]:
        """The same call, recording the thread hop both ways (``queue``, ``thread-return``)."""
        marks: dict[str, float] = {}

        def call() -> list[Prediction]:
            marks["started"] = time.perf_counter()
            try:
                return predictor.predict(texts, alone=alone, spans=spans)
            finally:
                marks["ended"] = time.perf_counter()

        submitted = time.perf_counter()
        result = await asyncio.get_running_loop().run_in_executor(self._executor, call)
        spans["queue"] = (marks["started"] - submitted) * 1000
        spans["thread-return"] = (time.perf_counter() - marks["ended"]) * 1000
        return result, (marks["ended"] - marks["started"]) * 1000

    @property
    def busy(self) -> bool:
        return self.running > 0

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)


def _measured(
    predictor: Predictor, texts: list[str], alone: bool
) -> tuple[list[Prediction], float]:
    started = time.perf_counter()
    predictions = predictor.predict(texts, alone=alone)
    return predictions, (time.perf_counter() - started) * 1000
