"""One wrapper every prediction route runs in: timing, status, headers, metrics, errors.

``server-timing`` splits model time from handler time; ``x-model-version`` names the
version that answered; the request is counted by route and status whatever happens.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TypeVar

from fastapi import HTTPException, Response

from contracts.serve_api import MODEL_VERSION_HEADER, SERVER_TIMING_HEADER
from serving.http.errors import ServingError, status_of
from serving.metrics import ReplicaMetrics

T = TypeVar("T")


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
    try:
        yield call
    except ServingError as err:
        call.status = status_of(err)
        raise
    except HTTPException as err:
        call.status = err.status_code
        raise
    finally:
        metrics.request(route, call.status, (time.perf_counter() - call.started) * 1000)
