"""Model loads off the event loop, on threads of their own, at most one per model at a time.

A load that passes its deadline is given up by the caller, but its thread cannot be stopped:
Python has no way to cancel a running thread. On the default executor (which predictions
share) timed-out loads of a hung download piled up until predictions had no thread left. Here
loads run on a small pool of their own, a second load of a model whose earlier load is still
running is refused at once (``StillLoading``), and no more loads run than the pool has
threads (``LoadersBusy``): a hung registry costs at most those threads, never a prediction's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

LOAD_THREADS = 2


class StillLoading(RuntimeError):
    """An earlier load of this model has not finished (it may be past its deadline)."""


class LoadersBusy(RuntimeError):
    """Every load thread is taken (by loads that may be past their deadline)."""


class Loads:
    def __init__(self, threads: int = LOAD_THREADS) -> None:
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="bulkhead-load")
        self._running: dict[str, Future[object]] = {}

    @property
    def running(self) -> int:
        return sum(not future.done() for future in self._running.values())

    async def run(self, key: str, timeout_s: float, work: Callable[[], T]) -> T:
        """``work()`` on a load thread, awaited at most ``timeout_s`` (``TimeoutError``)."""
        earlier = self._running.get(key)
        if earlier is not None and not earlier.done():
            raise StillLoading(f"{key}: an earlier load is still running")
        for done in [k for k, f in self._running.items() if f.done()]:
            del self._running[done]
        if self.running >= self.threads:
            raise LoadersBusy(f"all {self.threads} load threads are busy")
        future = self._pool.submit(work)
        self._running[key] = future  # type: ignore[assignment]
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout=timeout_s)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
