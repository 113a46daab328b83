"""One wrapper every route runs in: timing, status, headers, metrics, errors.

``server-timing`` splits model time from handler time; ``x-model-version`` names the
version that answered; the request is counted by route and status whatever happens.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TypeVar

from fastapi import HTTPException, Response

from contracts.serve_api import (
    FAMILY,
    FEEDBACK,
    HEALTHZ,
    LIMITS,
    LIVE,
    MODEL_VERSION_HEADER,
    MODELS,
    MOUNTED_FEEDBACK,
    MOUNTED_PREDICT,
    MOUNTED_READY,
    MOUNTED_STATUS,
    OIP_MODELS,
    OIP_ROOT,
    PREDICT,
    READY,
    SERVER_TIMING_HEADER,
    STATUS,
    speaks_oip,
)
from serving import hops
from serving.http.errors import ServingError, oip_status, status_of
from serving.metrics import ReplicaMetrics

T = TypeVar("T")

# The metrics labels of every family member's routes.
FAMILY_ROUTE = f"{FAMILY}{MOUNTED_PREDICT}"
FAMILY_FEEDBACK_ROUTE = f"{FAMILY}{MOUNTED_FEEDBACK}"
_FIXED_ROUTES = (PREDICT, STATUS, LIMITS, HEALTHZ, LIVE, READY, OIP_ROOT, FEEDBACK, MODELS)
_MOUNTED = {
    MOUNTED_PREDICT: PREDICT,
    MOUNTED_STATUS: STATUS,
    MOUNTED_READY: MOUNTED_READY,
    MOUNTED_FEEDBACK: FEEDBACK,
}


def route_label(path: str) -> str:
    """A bounded metrics label for any path: a client sending random paths must not grow the
    number of time series (unknown paths share one label)."""
    if path in _FIXED_ROUTES:
        return path
    if path.startswith(f"{FAMILY}/"):
        return FAMILY_FEEDBACK_ROUTE if path.endswith(MOUNTED_FEEDBACK) else FAMILY_ROUTE
    if path.startswith(f"{OIP_MODELS}/"):
        return "/v2/infer" if path.endswith("/infer") else OIP_MODELS
    if path.startswith(f"{MODELS}/") or path in _MOUNTED:  # per-model routes, one label each
        return _MOUNTED.get(path[path.rfind("/") :], "other")
    return "other"


class RouteCall:
    def __init__(self, response: Response) -> None:
        self.started = time.perf_counter()
        self.response = response
        self.status = 500
        self.infer_ms = 0.0

    async def timed(self, work: Awaitable[T]) -> T:
        """Await the model call, counting its time as inference time."""
        started = time.perf_counter()
        try:
            return await work
        finally:
            self.infer_ms += (time.perf_counter() - started) * 1000

    def answered(self, version: str) -> None:
        handler_ms = (time.perf_counter() - self.started) * 1000
        self.status = 200
        self.response.headers[MODEL_VERSION_HEADER] = version
        self.response.headers[SERVER_TIMING_HEADER] = (
            f"infer;dur={self.infer_ms:.2f}, handler;dur={handler_ms:.2f}"
        )


@asynccontextmanager
async def observed(
    metrics: ReplicaMetrics, route: str, response: Response
) -> AsyncIterator[RouteCall]:
    call = RouteCall(response)
    timing = hops.current()
    if timing is not None:
        timing.handler_started = call.started
    try:
        yield call
        if call.status == 500:  # a route that answered without naming a status: a plain 200
            call.status = 200
    except ServingError as err:
        call.status = status_of(err)
        if speaks_oip(route):
            call.status = oip_status(call.status)
        raise
    except HTTPException as err:
        call.status = err.status_code
        raise
    finally:
        ended = time.perf_counter()
        if timing is not None:
            timing.handler_ended = ended
        metrics.request(route, call.status, (ended - call.started) * 1000)
