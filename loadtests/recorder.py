"""Write one CSV row per request so that every figure is computed from raw samples.

Locust's own CSVs aggregate over the whole run or over a rolling window; per-stage
percentiles, warm-up exclusion and the model versions seen need the individual requests.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path
from typing import IO, Any

from contracts import env

REQUEST_LOG_ENV = env.REQUEST_LOG
VERSION_HEADER = "x-model-version"
COLUMNS = ("t", "name", "latency_ms", "status", "ok", "error", "version")


class RequestRecorder:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("w", newline="", buffering=1 << 16)
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: Any = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        url: str | None = None,
        **_: Any,
    ) -> None:
        status = int(getattr(response, "status_code", 0) or 0)
        headers = getattr(response, "headers", None) or {}
        version = headers.get(VERSION_HEADER, "") if status == 200 else ""
        error = "" if exception is None else _error_kind(status)
        started = start_time if start_time is not None else time.time() - response_time / 1000
        self._writer.writerow(
            (
                f"{started:.4f}",
                name,
                f"{response_time:.3f}",
                status,
                int(exception is None),
                error,
                version,
            )
        )

    def close(self) -> None:
        self._file.close()


def _error_kind(status: int) -> str:
    """HTTP errors (the server answered) and connection errors (it did not) are told apart."""
    return "http" if status else "connection"


def install(environment: Any) -> RequestRecorder | None:
    """Attach a recorder to a Locust environment when ``BULKHEAD_REQUEST_LOG`` names a file."""
    target = os.environ.get(REQUEST_LOG_ENV)
    if not target:
        return None
    recorder = RequestRecorder(Path(target))
    environment.events.request.add_listener(recorder.on_request)
    environment.events.quitting.add_listener(lambda **_: recorder.close())
    return recorder
