"""Which version answers a request during a rollout, and the shadow copies beside it.

Ray-free. The champion answers unless the rollout is in its canary phase and the request
falls in the canary share (by its client key, sticky for the rollout; else at random). A
candidate that fails a request is replaced by the champion for that request: the client sees
no failure, and the failure counts against the candidate. Shadow copies run only when the
replica has nothing else to do, one at a time, on their own thread at the lowest priority:
they are the first work dropped under load and never queue in front of a real request. A copy
runs the champion and the candidate back to back, so their latencies compare like for like.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from contracts.rollout import RolloutState, canary_bucket
from serving.metrics import ReplicaMetrics
from serving.predictor import Prediction, Predictor

log = logging.getLogger("ray.serve")

# Infer: (predictor, texts) -> (predictions, model milliseconds), through the replica's pool.
# The time is the model call's own (not its wait for a pool thread), as a shadow copy's is:
# the controller compares the two versions' latency like for like.
Infer = Callable[[Predictor, list[str]], Awaitable[tuple[list[Prediction], float]]]


@dataclass(frozen=True)
class Answer:
    predictor: Predictor
    predictions: list[Prediction]


def to_candidate(state: RolloutState, client_key: str | None, rng: random.Random) -> bool:
    if state.phase != "canary" or state.weight <= 0:
        return False
    if state.weight >= 100:
        return True
    if client_key:
        return canary_bucket(state.id, client_key) < state.weight * 100
    return rng.random() * 100 < state.weight


def _lowest_priority() -> None:
    """Run this thread at nice 19 (Linux threads have their own nice value): when a real
    request needs a core, the scheduler gives it to the request, and the shadow copy gets
    what is left (CFS weighs nice 19 at 15 against 1024 for nice 0)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux: the idle-only rule still bounds it
        log.warning("shadow thread runs at normal priority")


class ShadowRunner:
    """Shadow copies, bounded three ways: one at a time, at most ``max_per_s`` started per
    second, and only while no real request runs (checked when a copy is offered and again
    before each of its two model calls). The thread runs at nice 19, and a single-thread
    session computes in the calling thread, so the whole copy runs at that priority."""

    def __init__(
        self,
        metrics: ReplicaMetrics,
        max_per_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metrics = metrics
        self.max_per_s = max_per_s
        self.pending = 0
        self._clock = clock
        self._last_start = float("-inf")
        self._flip = True
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="shadow", initializer=_lowest_priority
        )

    def offer(
        self,
        champion: Predictor,
        candidate: Predictor,
        texts: list[str],
        busy: Callable[[], bool],
    ) -> bool:
        """Mirror one answered request's texts to both versions if the bounds allow; returns
        whether it was started (called on the event loop, which owns ``pending``)."""
        model, version = candidate.info.name, candidate.info.version
        now = self._clock()
        if self.max_per_s <= 0 or now - self._last_start < 1.0 / self.max_per_s:
            self._metrics.shadow_dropped(model, version, "rate")
            return False
        if busy() or self.pending:
            self._metrics.shadow_dropped(model, version, "busy")
            return False
        self.pending += 1
        self._last_start = now
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, self._compare, champion, candidate, texts, busy
        )
        future.add_done_callback(self._finished)
        return True

    def _finished(self, _: asyncio.Future[None]) -> None:
        self.pending -= 1

    def _timed(self, predictor: Predictor, texts: list[str]) -> list[Prediction] | None:
        """One call on this thread, its time recorded as the version's shadow latency: CPU
        time, not wall time (at nice 19 a call waits for every real request, and its wall time
        would measure the replica's load rather than the model)."""
        info = predictor.info
        started = time.thread_time()
        try:
            predictions = predictor.predict(texts, alone=False)
        except Exception as err:  # a failure is a figure, never the client's
            self._metrics.version_call(info.name, info.version, "shadow", False, 0.0, [])
            log.warning("shadow call to v%s failed: %s", info.version, str(err)[:200])
            return None
        model_ms = (time.thread_time() - started) * 1000
        self._metrics.version_call(info.name, info.version, "shadow", True, model_ms, [])
        return predictions

    def _compare(
        self,
        champion: Predictor,
        candidate: Predictor,
        texts: list[str],
        busy: Callable[[], bool],
    ) -> None:
        """Both versions on the same texts, on the same thread, in alternating order (the
        first call of a pair may pay for cold caches): a paired latency comparison, and their
        agreement whichever version answered the client (so it is measured at a 100% canary
        too). Each call starts only while the replica is idle; half a pair is dropped."""
        model, version = candidate.info.name, candidate.info.version
        self._flip = not self._flip
        pair = (champion, candidate) if self._flip else (candidate, champion)
        answers: dict[str, list[Prediction]] = {}
        for predictor in pair:
            if busy():
                self._metrics.shadow_dropped(model, version, "busy")
                return
            predictions = self._timed(predictor, texts)
            if predictions is None:
                return
            answers[predictor.info.version] = predictions
        agreed = sum(
            1
            for theirs, ours in zip(
                answers[candidate.info.version], answers[champion.info.version], strict=True
            )
            if theirs.label == ours.label
        )
        self._metrics.shadow_compared(model, version, len(texts), agreed)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class TrafficSplit:
    """Routes one request between champion and candidate and records per-version figures."""

    def __init__(self, metrics: ReplicaMetrics, rng: random.Random | None = None) -> None:
        self._metrics = metrics
        self._rng = rng or random.Random()
        self.shadow = ShadowRunner(metrics)

    def configure(self, shadow_max_per_s: float) -> None:
        self.shadow.max_per_s = shadow_max_per_s

    async def answer(
        self,
        infer: Infer,
        champion: Predictor,
        candidate: Predictor | None,
        state: RolloutState | None,
        texts: list[str],
        client_key: str | None,
        busy: Callable[[], bool],
    ) -> Answer:
        if state is None or not state.active or candidate is None:
            return await self._call(infer, champion, texts)
        answer = None
        if to_candidate(state, client_key, self._rng):
            answer = await self._try(infer, candidate, texts)
        if answer is None:
            answer = await self._call(infer, champion, texts)
        if self._rng.random() < state.policy.shadow_sample:
            self.shadow.offer(champion, candidate, texts, busy)
        return answer

    async def pinned(self, infer: Infer, predictor: Predictor, texts: list[str]) -> Answer:
        """A request that named its version: that version answers, outside any split."""
        return await self._call(infer, predictor, texts)

    async def _try(self, infer: Infer, predictor: Predictor, texts: list[str]) -> Answer | None:
        """The candidate's answer, or None when it failed (counted against it)."""
        try:
            predictions, model_ms = await infer(predictor, texts)
        except Exception as err:
            info = predictor.info
            self._metrics.version_call(info.name, info.version, "served", False, 0.0, [])
            log.warning("candidate v%s failed a request: %s", info.version, str(err)[:200])
            return None
        self._served(predictor, predictions, model_ms)
        return Answer(predictor, predictions)

    async def _call(self, infer: Infer, predictor: Predictor, texts: list[str]) -> Answer:
        try:
            predictions, model_ms = await infer(predictor, texts)
        except Exception:
            info = predictor.info
            self._metrics.version_call(info.name, info.version, "served", False, 0.0, [])
            raise
        self._served(predictor, predictions, model_ms)
        return Answer(predictor, predictions)

    def _served(self, predictor: Predictor, predictions: list[Prediction], model_ms: float) -> None:
        info = predictor.info
        labels = [p.label for p in predictions]
        self._metrics.version_call(info.name, info.version, "served", True, model_ms, labels)

    def close(self) -> None:
        self.shadow.close()
