"""A small closed-loop load generator that counts every request, for fault-injection runs.

Locust is the tool for latency profiles; fault scenarios need something they can start and
stop around a fault from the same process, with every outcome classified and timestamped.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
from pydantic import BaseModel, Field

from contracts.serve_api import MODEL_VERSION_HEADER
from serving.client import ServeClient, ServeEndpoint

FAILURES_SHOWN = 5


@dataclass(frozen=True)
class Outcome:
    t: float
    status: int  # 0: no HTTP answer
    latency_ms: float
    version: str
    retry_after: bool
    # A failed request's answer (body start) or exception: what a failing chaos test prints.
    detail: str = ""


class LoadCounts(BaseModel):
    requests: int
    ok: int
    http_errors: int = Field(description="Answered with a status >= 400 (503 overload included).")
    connection_errors: int = Field(description="No HTTP answer: refused, reset or timed out.")
    status_codes: dict[str, int]
    versions: dict[str, int]
    longest_gap_s: float = Field(description="Longest stretch without a successful answer.")
    p99_ok_ms: float | None
    rejected_with_retry_after: int
    first_failures: list[str] = Field(
        default_factory=list,
        description="The first few failed requests: time into the run, status, what came back.",
    )

    @property
    def failed(self) -> int:
        return self.http_errors + self.connection_errors


@dataclass
class ClosedLoopLoad:
    """``clients`` threads, each sending its next request when the last one is answered."""

    endpoint: ServeEndpoint
    texts: list[str]
    clients: int = 4
    timeout_s: float = 10.0
    # Each client's requests per second at most (0: as fast as answers come). A paced load
    # leaves the machine idle time, as production does, and offers the same rate whatever
    # the server does (what "the same load" means when comparing two server settings).
    per_client_rps: float = 0.0
    # None: the default model's /v1/predict; else /v1/models/{model}/predict.
    model: str | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> ClosedLoopLoad:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        self.started = time.monotonic()
        for i in range(self.clients):
            thread = threading.Thread(target=self._client, args=(i,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout_s + 5)

    def _client(self, seed: int) -> None:
        rng = random.Random(seed)
        interval = 1.0 / self.per_client_rps if self.per_client_rps > 0 else 0.0
        next_at = time.monotonic() + rng.uniform(0, interval)
        with ServeClient(self.endpoint, timeout_s=self.timeout_s, model=self.model) as client:
            while not self._stop.is_set():
                if interval:
                    self._stop.wait(max(0.0, next_at - time.monotonic()))
                    next_at = max(next_at + interval, time.monotonic() - interval)
                t0 = time.monotonic()
                try:
                    response = client.predict_response([rng.choice(self.texts)])
                    outcome = Outcome(
                        t=t0 - self.started,
                        status=response.status_code,
                        latency_ms=(time.monotonic() - t0) * 1000,
                        version=response.headers.get(MODEL_VERSION_HEADER, ""),
                        retry_after="retry-after" in response.headers,
                        detail="" if response.status_code == 200 else response.text[:160],
                    )
                except httpx.HTTPError as err:
                    outcome = Outcome(
                        t0 - self.started,
                        0,
                        (time.monotonic() - t0) * 1000,
                        "",
                        False,
                        f"{type(err).__name__}: {err}"[:160],
                    )
                    time.sleep(0.05)  # a refused connection returns at once: do not spin
                with self._lock:
                    self.outcomes.append(outcome)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def counts(self, since: float = 0.0) -> LoadCounts:
        with self._lock:
            rows = [o for o in self.outcomes if o.t >= since]
        ok = [o for o in rows if o.status == 200]
        gap, last = 0.0, since
        for o in sorted(ok, key=lambda o: o.t):
            gap, last = max(gap, o.t - last), o.t
        if rows:
            gap = max(gap, max(o.t for o in rows) - last)
        lat = sorted(o.latency_ms for o in ok)
        return LoadCounts(
            requests=len(rows),
            ok=len(ok),
            http_errors=sum(1 for o in rows if o.status >= 400),
            connection_errors=sum(1 for o in rows if o.status == 0),
            status_codes=dict(sorted(Counter(str(o.status) for o in rows).items())),
            versions=dict(Counter(o.version for o in ok if o.version)),
            longest_gap_s=round(gap, 2),
            p99_ok_ms=round(lat[int(0.99 * (len(lat) - 1))], 1) if lat else None,
            rejected_with_retry_after=sum(1 for o in rows if o.status == 503 and o.retry_after),
            first_failures=[
                f"t={o.t:.1f}s {o.status or 'no answer'}: {o.detail}"
                for o in sorted(rows, key=lambda o: o.t)
                if o.status != 200
            ][:FAILURES_SHOWN],
        )

    def first_ok_after(self, t: float) -> float | None:
        with self._lock:
            times = [o.t for o in self.outcomes if o.t >= t and o.status == 200]
        return min(times) if times else None
